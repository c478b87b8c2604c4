// The one rule for every id that names a Redis key or channel or a PostgreSQL row: users, threads, runs, requests, events.
import Type from 'typebox'

/**
 * 1 to 128 characters from A-Z a-z 0-9 and `. _ : @ -`.
 *
 * Why a closed set rather than "any string": ids become Redis keys and channels (as UTF-8 bytes) and PostgreSQL text.
 * JavaScript strings are UTF-16, so two distinct strings can encode to the same bytes (a lone surrogate becomes
 * U+FFFD), which would give two users one channel and one set of rows. PostgreSQL refuses NUL outright. On Redis
 * Cluster a key's slot is taken from its first `{…}`; an id holding `{` or `}` moves the hash tag, so ioredis and
 * the server can disagree on the slot. Printable ASCII without braces, spaces, `/`, `%` or quotes is one byte per
 * character, the same in every store, URL path and log line, and it covers UUIDs, ULIDs, the platform's prefixed
 * ids (`thread_…`, `run_…`), e-mail-like subjects and `provider:subject` forms. 128 bounds key and row sizes.
 */
export const ID_PATTERN = '^[A-Za-z0-9._:@-]{1,128}$'
export const ID_MAX_LENGTH = 128
const ID = new RegExp(ID_PATTERN)

/** The rule as a client reads it, for error messages and docs. */
export const ID_RULE = `must be 1 to ${ID_MAX_LENGTH} characters from A-Z a-z 0-9 . _ : @ -`

/** The TypeBox schema of an id, for HTTP params and frames. */
export const IdSchema = Type.String({ pattern: ID_PATTERN, minLength: 1, maxLength: ID_MAX_LENGTH })

export function isId (value: unknown): value is string {
  return typeof value === 'string' && ID.test(value)
}

/** Why `value` is not an id, or undefined when it is one. */
export function idProblem (value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string'
  if (value.length > ID_MAX_LENGTH) return `must be at most ${ID_MAX_LENGTH} characters`
  return ID.test(value) ? undefined : ID_RULE
}
