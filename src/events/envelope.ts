// An agent event as stored, and the frame delivered to browsers: routing fields flat at the top, details also in `data` and `payload`.
import { randomUUID } from 'node:crypto'
import type { UserExecutionContext } from '../context/user-execution-context.js'
import { EVENT_FIELDS, type AgentEventInput, type AgentEventType } from './schemas.js'

/** An accepted event: ids and time filled in by the gateway when the producer left them out. */
export interface AgentEvent {
  event_id: string
  type: AgentEventType
  /** Epoch seconds, as the platform's frames carry it. */
  timestamp: number
  context: UserExecutionContext
  agent_name?: string
  /** The type's own fields (reasoning, tool_name, ...). */
  fields: Record<string, unknown>
  /** Extra details from the producer. */
  data?: Record<string, unknown>
}

export function newEventId (): string {
  return `evt_${randomUUID().replaceAll('-', '')}`
}

function toEpochSeconds (value: number | string | undefined, now: number): number {
  if (value === undefined) return now
  if (typeof value === 'number') return value
  return Date.parse(value) / 1000
}

/** Turns a validated input into an event; `context` has already passed the placeholder rules. */
export function normalizeEvent (input: AgentEventInput, context: UserExecutionContext, now = Date.now() / 1000): AgentEvent {
  const fields: Record<string, unknown> = {}
  const source = input as unknown as Record<string, unknown>
  for (const key of Object.keys(EVENT_FIELDS[input.type])) {
    if (source[key] !== undefined) fields[key] = source[key]
  }
  const event: AgentEvent = {
    event_id: input.event_id ?? newEventId(),
    type: input.type,
    timestamp: toEpochSeconds(input.timestamp, now),
    context,
    fields
  }
  if (input.agent_name !== undefined) event.agent_name = input.agent_name
  if (input.data !== undefined) event.data = input.data
  return event
}

// Aliases the platform's frontend mappers read from `payload` (and its validators from `data`), contract section 3.2.
function detailAliases (event: AgentEvent): Record<string, unknown> {
  const f = event.fields
  switch (event.type) {
    case 'agent_started': return { status: 'started' }
    case 'agent_thinking': return { status: 'thinking' }
    case 'tool_executing': return { status: 'executing' }
    case 'tool_completed': return { status: 'completed', result: f.results, execution_time_ms: f.duration }
    // The frontend shows `message` as the answer; `execution_time_ms` is the producer's (in `data`), if it sent one.
    case 'agent_completed': return { message: f.final_response }
    case 'agent_error': return { status: 'error', error_message: f.error }
  }
}

/** The frame's own fields, before the details that `data` and `payload` both carry. */
function frameHead (event: AgentEvent): Record<string, unknown> {
  const { context: ctx } = event
  const head: Record<string, unknown> = {
    type: event.type,
    event_id: event.event_id,
    timestamp: event.timestamp,
    user_id: ctx.user_id,
    thread_id: ctx.thread_id,
    run_id: ctx.run_id,
    request_id: ctx.request_id
  }
  if (ctx.websocket_client_id !== undefined) head.websocket_client_id = ctx.websocket_client_id
  if (event.agent_name !== undefined) head.agent_name = event.agent_name
  return Object.assign(head, event.fields)
}

const frameDetails = (event: AgentEvent): Record<string, unknown> => ({ ...event.data, ...detailAliases(event), ...event.fields })

/**
 * The wire frame: one object that the platform's flat readers, its `data` readers and its frontend (which reads
 * `payload`, and copies `data` there only for some types, not for tool_completed) all understand. `payload` is the
 * same object as `data`.
 */
export function toFrame (event: AgentEvent): Record<string, unknown> {
  const details = frameDetails(event)
  return Object.assign(frameHead(event), { data: details, payload: details })
}

/**
 * The frame as published and delivered: `{"seq":N,"epoch":"E",...}`, the same text as JSON.stringify of toFrame
 * with the offset first. Serialized once per event, whatever the number of sockets, and its details once for both
 * `data` and `payload` (a third of an event's serialization). The offset leads so that delivery can read it with
 * `seqOf` instead of parsing the frame again for every socket.
 */
export function toWire (event: AgentEvent & { seq: number, epoch: string }): string {
  const details = JSON.stringify(frameDetails(event))
  return `{"seq":${event.seq},"epoch":${JSON.stringify(event.epoch)},${JSON.stringify(frameHead(event)).slice(1, -1)},"data":${details},"payload":${details}}`
}

const SEQ_PREFIX = '{"seq":'

const SEQ_BYTES = Buffer.from(SEQ_PREFIX)

/** The offset of a wire frame (text or its bytes), or undefined for a frame that carries none. */
export function seqOf (frame: string | Buffer): number | undefined {
  const bytes = typeof frame !== 'string'
  if (bytes ? frame.compare(SEQ_BYTES, 0, SEQ_BYTES.length, 0, SEQ_BYTES.length) !== 0 : !frame.startsWith(SEQ_PREFIX)) return undefined
  let seq = 0
  for (let i = SEQ_PREFIX.length; i < frame.length; i++) {
    const digit = (bytes ? frame[i]! : frame.charCodeAt(i)) - 48
    if (digit < 0 || digit > 9) return i === SEQ_PREFIX.length ? undefined : seq
    seq = seq * 10 + digit
  }
  return undefined
}
