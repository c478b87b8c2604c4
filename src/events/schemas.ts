// TypeBox schemas of the agent events that producers send: one object per event type, discriminated by `type`.
import Type from 'typebox'
import { UserExecutionContextSchema } from '../context/user-execution-context.js'
import { MAX_EVENT_BYTES } from './storable.js'

/** The five events of a successful run, in the order the frontend expects them. */
export const GOLDEN_PATH_EVENTS = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const
export const AGENT_EVENT_TYPES = [...GOLDEN_PATH_EVENTS, 'agent_error'] as const
export type AgentEventType = typeof AGENT_EVENT_TYPES[number]

// No text can be longer than the event that holds it (storable.ts measures the event).
const Text = Type.String({ minLength: 1, maxLength: MAX_EVENT_BYTES })
const Name = Type.String({ minLength: 1, maxLength: 256 })
const Json = Type.Unknown()
const Details = Type.Record(Type.String(), Type.Unknown())

const ContextId = UserExecutionContextSchema.properties.user_id

/**
 * Fields every event may carry, whatever its type. Who the event is for comes either in `context` or flat at the
 * top level, as the platform's own emitter writes it; validate.ts requires one of them and that both agree.
 */
const common = {
  context: Type.Optional(UserExecutionContextSchema),
  user_id: Type.Optional(ContextId),
  thread_id: Type.Optional(ContextId),
  run_id: Type.Optional(ContextId),
  request_id: Type.Optional(ContextId),
  websocket_client_id: Type.Optional(ContextId),
  event_id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' })),
  timestamp: Type.Optional(Type.Union([
    Type.Number({ exclusiveMinimum: 0, maximum: 1e11 }),
    Type.String({ format: 'date-time' })
  ])),
  agent_name: Type.Optional(Name),
  data: Type.Optional(Details)
}

/** The fields each type adds; the required ones are the platform's (contract section 3.2). */
export const EVENT_FIELDS = {
  agent_started: {
    task_description: Type.Optional(Text)
  },
  agent_thinking: {
    reasoning: Text,
    step_number: Type.Optional(Type.Integer({ minimum: 0 })),
    progress_percentage: Type.Optional(Type.Number({ minimum: 0, maximum: 100 }))
  },
  tool_executing: {
    tool_name: Name,
    parameters: Details,
    execution_id: Type.Optional(Name)
  },
  tool_completed: {
    tool_name: Name,
    results: Json,
    duration: Type.Number({ minimum: 0 }),
    success: Type.Optional(Type.Boolean()),
    execution_id: Type.Optional(Name)
  },
  agent_completed: {
    status: Name,
    final_response: Type.String({ maxLength: MAX_EVENT_BYTES }),
    result: Type.Optional(Json)
  },
  agent_error: {
    error: Text,
    error_code: Type.Optional(Name)
  }
} as const

// Written out per type (not built in a loop) so TypeScript infers each event's static type.
const strict = { additionalProperties: false } as const
export const AgentEventSchemas = {
  agent_started: Type.Object({ type: Type.Literal('agent_started'), ...common, ...EVENT_FIELDS.agent_started }, strict),
  agent_thinking: Type.Object({ type: Type.Literal('agent_thinking'), ...common, ...EVENT_FIELDS.agent_thinking }, strict),
  tool_executing: Type.Object({ type: Type.Literal('tool_executing'), ...common, ...EVENT_FIELDS.tool_executing }, strict),
  tool_completed: Type.Object({ type: Type.Literal('tool_completed'), ...common, ...EVENT_FIELDS.tool_completed }, strict),
  agent_completed: Type.Object({ type: Type.Literal('agent_completed'), ...common, ...EVENT_FIELDS.agent_completed }, strict),
  agent_error: Type.Object({ type: Type.Literal('agent_error'), ...common, ...EVENT_FIELDS.agent_error }, strict)
} as const

export const AgentEventInputSchema = Type.Union([
  AgentEventSchemas.agent_started, AgentEventSchemas.agent_thinking, AgentEventSchemas.tool_executing,
  AgentEventSchemas.tool_completed, AgentEventSchemas.agent_completed, AgentEventSchemas.agent_error
])
export type AgentEventInput = Type.Static<typeof AgentEventInputSchema>

/** The body of POST /api/v1/events: one event, or a batch. Events are checked one by one (see validate.ts). */
export const IngestBodySchema = Type.Union([
  Type.Object({ events: Type.Array(Type.Unknown(), { minItems: 1 }) }),
  Type.Object({ type: Type.String() })
])

export const IngestReplySchema = Type.Object({
  /** Every event of the request, stored now or before. */
  event_ids: Type.Array(Type.String()),
  stored: Type.Integer(),
  /** Events whose event_id was already stored: not stored or delivered again. */
  duplicates: Type.Integer()
})
