// Checks producer events one by one so that a rejection names the event's index and the exact field path.
import { Compile } from 'typebox/compile'
import { contextFieldProblem, createUserExecutionContext, REQUIRED_CONTEXT_FIELDS } from '../context/user-execution-context.js'
import { HttpErrors } from '../errors.js'
import { normalizeEvent, type AgentEvent } from './envelope.js'
import { storableProblem } from './storable.js'
import { AGENT_EVENT_TYPES, AgentEventSchemas, type AgentEventInput, type AgentEventType } from './schemas.js'

const validators = Object.fromEntries(
  Object.entries(AgentEventSchemas).map(([type, schema]) => [type, Compile(schema)])
) as { [K in AgentEventType]: ReturnType<typeof Compile> }

export interface EventProblem { index: number, path: string, message: string }

/** JSON pointer "/context/user_id" → "context.user_id"; array items as [n]. */
function dotted (pointer: string): string {
  return pointer.split('/').filter(Boolean).map((p) => /^\d+$/.test(p) ? `[${p}]` : `.${p}`).join('').replace(/^\./, '')
}

const CONTEXT_FIELDS = [...REQUIRED_CONTEXT_FIELDS, 'websocket_client_id'] as const
type ContextInput = Parameters<typeof createUserExecutionContext>[0]
type Problem = { path: string, message: string }

/**
 * The event's context, from `context` or from the flat fields at the top level; where both name a field they
 * must agree, so that a producer cannot say two things about whom an event is for.
 */
function resolveContext (event: Record<string, unknown>): ContextInput | Problem {
  const nested = event.context as Record<string, unknown> | undefined
  const resolved: Record<string, unknown> = {}
  for (const field of CONTEXT_FIELDS) {
    const flat = event[field]
    if (flat !== undefined && nested?.[field] !== undefined && nested[field] !== flat) {
      return { path: field, message: `disagrees with context.${field}` }
    }
    const value = nested?.[field] ?? flat
    if (value !== undefined) resolved[field] = value
  }
  const prefix = nested === undefined ? '' : 'context.'
  if (nested === undefined && REQUIRED_CONTEXT_FIELDS.every((field) => resolved[field] === undefined)) {
    return { path: 'context', message: `is required (or ${REQUIRED_CONTEXT_FIELDS.join(', ')} at the top level)` }
  }
  for (const field of REQUIRED_CONTEXT_FIELDS) {
    if (resolved[field] === undefined) return { path: `${prefix}${field}`, message: 'is required' }
    const problem = contextFieldProblem(field, resolved[field])
    if (problem) return { path: nested?.[field] !== undefined ? `context.${field}` : field, message: problem }
  }
  return resolved as unknown as ContextInput
}

/** The first problem of one event and the context it is for: exactly one of the two. */
function inspect (value: unknown): { problem: Problem, context?: undefined } | { problem?: undefined, context: ContextInput } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { problem: { path: '', message: 'must be a JSON object' } }
  // First what the event log could never store, so that no later message quotes a value it cannot carry.
  const unstorable = storableProblem(value)
  if (unstorable) return { problem: unstorable }
  const type = (value as { type?: unknown }).type
  if (type === undefined) return { problem: { path: 'type', message: 'is required' } }
  if (typeof type !== 'string' || !(AGENT_EVENT_TYPES as readonly string[]).includes(type)) {
    return { problem: { path: 'type', message: `must be one of ${AGENT_EVENT_TYPES.join(', ')}` } }
  }
  const validator = validators[type as AgentEventType]
  if (!validator.Check(value)) {
    // "schema is false" repeats the additionalProperties error with less to say.
    const error = [...validator.Errors(value)].find((e) => e.keyword !== 'boolean')
    if (!error) return { problem: { path: '', message: 'is invalid' } }
    const params = error.params as { requiredProperties?: string[], additionalProperties?: string[] }
    if (error.keyword === 'required' && params.requiredProperties?.[0]) {
      return { problem: { path: dotted(`${error.instancePath}/${params.requiredProperties[0]}`), message: 'is required' } }
    }
    if (error.keyword === 'additionalProperties' && params.additionalProperties?.[0]) {
      return { problem: { path: dotted(`${error.instancePath}/${params.additionalProperties[0]}`), message: 'is not an allowed field' } }
    }
    return { problem: { path: dotted(error.instancePath), message: error.message } }
  }
  const context = resolveContext(value as Record<string, unknown>)
  if ('message' in context) return { problem: context }
  // A date-time the format allows but no clock can show (a leap second) would reach the store as NaN.
  const timestamp = (value as { timestamp?: unknown }).timestamp
  if (typeof timestamp === 'string' && !Number.isFinite(Date.parse(timestamp))) {
    return { problem: { path: 'timestamp', message: 'must be a date-time that names an instant' } }
  }
  return { context }
}

/** The first problem of one event, or undefined when it is acceptable. */
export function eventProblem (value: unknown): Problem | undefined {
  return inspect(value).problem
}

function reject (problem: EventProblem, batch: boolean): never {
  const where = batch ? `events[${problem.index}]${problem.path ? '.' : ''}${problem.path}` : (problem.path || 'body')
  const error = new HttpErrors.ValidationError(`${where}: ${problem.message}`)
  Object.assign(error, { details: { index: problem.index, path: problem.path } })
  throw error
}

/** Validates an ingest body (one event or `{events: [...]}`) whole: one bad event rejects the batch. */
export function parseIngestBody (body: unknown, maxBatch: number, now = Date.now() / 1000): AgentEvent[] {
  const batch = body !== null && typeof body === 'object' && 'events' in body
  const items: unknown[] = batch ? (body as { events: unknown }).events as unknown[] : [body]
  if (!Array.isArray(items)) reject({ index: 0, path: '', message: 'events must be an array' }, false)
  if (items.length === 0) throw new HttpErrors.ValidationError('events: must hold at least one event')
  if (items.length > maxBatch) throw new HttpErrors.BatchTooLarge(maxBatch, items.length)
  const ids = new Set<string>()
  return items.map((item, index) => {
    const { problem, context } = inspect(item)
    if (problem) reject({ index, ...problem }, batch)
    const event = normalizeEvent(item as AgentEventInput, createUserExecutionContext(context), now)
    if (ids.has(event.event_id)) reject({ index, path: 'event_id', message: 'appears twice in this batch' }, batch)
    ids.add(event.event_id)
    return event
  })
}
