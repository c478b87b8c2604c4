// Checks producer events one by one so that a rejection names the event's index and the exact field path.
import { Compile } from 'typebox/compile'
import { contextFieldProblem, createUserExecutionContext, REQUIRED_CONTEXT_FIELDS } from '../context/user-execution-context.js'
import { HttpErrors } from '../errors.js'
import { normalizeEvent, type AgentEvent } from './envelope.js'
import { AGENT_EVENT_TYPES, AgentEventSchemas, type AgentEventInput, type AgentEventType } from './schemas.js'

const validators = Object.fromEntries(
  Object.entries(AgentEventSchemas).map(([type, schema]) => [type, Compile(schema)])
) as { [K in AgentEventType]: ReturnType<typeof Compile> }

export interface EventProblem { index: number, path: string, message: string }

/** JSON pointer "/context/user_id" → "context.user_id"; array items as [n]. */
function dotted (pointer: string): string {
  return pointer.split('/').filter(Boolean).map((p) => /^\d+$/.test(p) ? `[${p}]` : `.${p}`).join('').replace(/^\./, '')
}

/** The first problem of one event, or undefined when it is acceptable. */
export function eventProblem (value: unknown): { path: string, message: string } | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { path: '', message: 'must be a JSON object' }
  const type = (value as { type?: unknown }).type
  if (type === undefined) return { path: 'type', message: 'is required' }
  if (typeof type !== 'string' || !(AGENT_EVENT_TYPES as readonly string[]).includes(type)) {
    return { path: 'type', message: `must be one of ${AGENT_EVENT_TYPES.join(', ')}` }
  }
  const validator = validators[type as AgentEventType]
  if (!validator.Check(value)) {
    // "schema is false" repeats the additionalProperties error with less to say.
    const error = [...validator.Errors(value)].find((e) => e.keyword !== 'boolean')
    if (!error) return { path: '', message: 'is invalid' }
    const params = error.params as { requiredProperties?: string[], additionalProperties?: string[] }
    if (error.keyword === 'required' && params.requiredProperties?.[0]) {
      return { path: dotted(`${error.instancePath}/${params.requiredProperties[0]}`), message: 'is required' }
    }
    if (error.keyword === 'additionalProperties' && params.additionalProperties?.[0]) {
      return { path: dotted(`${error.instancePath}/${params.additionalProperties[0]}`), message: 'is not an allowed field' }
    }
    return { path: dotted(error.instancePath), message: error.message }
  }
  const context = (value as { context: Record<string, unknown> }).context
  for (const field of REQUIRED_CONTEXT_FIELDS) {
    const problem = contextFieldProblem(field, context[field])
    if (problem) return { path: `context.${field}`, message: problem }
  }
  return undefined
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
    const problem = eventProblem(item)
    if (problem) reject({ index, ...problem }, batch)
    const input = item as AgentEventInput
    const event = normalizeEvent(input, createUserExecutionContext(input.context), now)
    if (ids.has(event.event_id)) reject({ index, path: 'event_id', message: 'appears twice in this batch' }, batch)
    ids.add(event.event_id)
    return event
  })
}
