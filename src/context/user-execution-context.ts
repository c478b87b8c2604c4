// UserExecutionContext: the one definition (schema, type, constructor) of who a run belongs to.
import Type from 'typebox'
import { idProblem } from './ids.js'

// Loose on purpose: contextFieldProblem applies the id rule after the schema, with a message naming the rule.
const Id = Type.String({ minLength: 1, maxLength: 256 })

export const UserExecutionContextSchema = Type.Object({
  user_id: Id,
  thread_id: Id,
  run_id: Id,
  request_id: Id,
  websocket_client_id: Type.Optional(Id)
}, { additionalProperties: false })
export type UserExecutionContext = Readonly<Type.Static<typeof UserExecutionContextSchema>>

export const REQUIRED_CONTEXT_FIELDS = ['user_id', 'thread_id', 'run_id', 'request_id'] as const
type RequiredField = typeof REQUIRED_CONTEXT_FIELDS[number]

// The platform's placeholder rules (contract section 5): values that mean "nobody filled this in".
const PLACEHOLDER_VALUES: ReadonlySet<string> = new Set(['registry', 'placeholder', 'default', 'temp', 'none', 'null', 'undefined', '0', '1',
  'xxx', 'yyy', 'example', 'test', 'demo', 'sample', 'template', 'mock', 'fake', 'dummy'])
const PLACEHOLDER_PREFIXES: readonly string[] = ['placeholder_', 'registry_', 'temp_', 'example_', 'demo_', 'sample_', 'template_', 'mock_',
  'fake_', 'default_', 'test_']
const SHORT_VALUE = 20
const ALLOWED_DEFAULTS: ReadonlySet<string> = new Set(['default_user', 'default_admin', 'default_system', 'default_account', 'default_service',
  'default_client', 'default_guest'])

export class InvalidContextError extends Error {
  constructor (public readonly field: string, public readonly rule: string) {
    super(`${field}: ${rule}`)
    this.name = 'InvalidContextError'
  }
}

/** Why `value` is not acceptable as `field`, or undefined when it is. */
export function contextFieldProblem (field: RequiredField, value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string'
  if (value.trim() === '') return 'must not be empty'
  // Ids name keys, channels and rows: one rule for all of them (see ids.ts).
  const shape = idProblem(value)
  if (shape) return shape
  const lower = value.toLowerCase()
  if (ALLOWED_DEFAULTS.has(lower)) return undefined
  if (PLACEHOLDER_VALUES.has(lower)) return `must not be the placeholder value "${value}"`
  if (value.length < SHORT_VALUE) {
    const prefix = PLACEHOLDER_PREFIXES.find((p) => lower.startsWith(p))
    if (prefix) return `must not start with the placeholder prefix "${prefix}" (values under ${SHORT_VALUE} characters)`
  }
  return undefined
}

/** Builds a frozen context, refusing empty and placeholder ids with an error naming the field and the rule. */
export function createUserExecutionContext (input: {
  user_id: unknown, thread_id: unknown, run_id: unknown, request_id: unknown, websocket_client_id?: unknown
}): UserExecutionContext {
  for (const field of REQUIRED_CONTEXT_FIELDS) {
    const problem = contextFieldProblem(field, input[field])
    if (problem) throw new InvalidContextError(field, problem)
  }
  const ctx: { -readonly [K in keyof UserExecutionContext]: UserExecutionContext[K] } = {
    user_id: input.user_id as string,
    thread_id: input.thread_id as string,
    run_id: input.run_id as string,
    request_id: input.request_id as string
  }
  if (input.websocket_client_id !== undefined) {
    if (typeof input.websocket_client_id !== 'string' || input.websocket_client_id.trim() === '') {
      throw new InvalidContextError('websocket_client_id', 'must be a non-empty string when given')
    }
    const shape = idProblem(input.websocket_client_id)
    if (shape) throw new InvalidContextError('websocket_client_id', shape)
    ctx.websocket_client_id = input.websocket_client_id
  }
  return Object.freeze(ctx)
}
