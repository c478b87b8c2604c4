// What the event log can store: well-formed text without NUL, bounded nesting, finite numbers, a bounded size.
// PostgreSQL's jsonb refuses the first two outright and gives up on deep enough nesting; a refusal there is a
// store failure that no retry can cure, so every such value is refused here, at the edge, naming its field.

/** Containers (objects and arrays) inside one another, the event itself being the first level. */
export const MAX_DEPTH = 32
/** One event's JSON text, in UTF-8 bytes: far above any real step of a run, far below what would slow delivery. */
export const MAX_EVENT_BYTES = 256 * 1024

// Node 20 has both (ES2024); the compiler's ES2022 library does not declare them yet.
declare global {
  interface String { isWellFormed: () => boolean, toWellFormed: () => string }
}

export interface StorableProblem { path: string, message: string }

export interface StorableLimits { maxDepth?: number, maxBytes?: number }

/** Why `text` cannot be stored, or undefined when it can. */
export function textProblem (text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character'
  if (!text.isWellFormed()) return 'contains a lone surrogate'
  return undefined
}

/** `text` made storable: lone surrogates become U+FFFD, NUL characters are dropped. */
export function storableText (text: string): string {
  const wellFormed = text.isWellFormed() ? text : text.toWellFormed()
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '') : wellFormed
}

/** At most `max` UTF-16 units of `text`, never cutting a surrogate pair in two. */
export function clip (text: string, max: number): string {
  if (text.length <= max) return text
  const last = text.charCodeAt(max - 1)
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max)
}

const PLAIN_KEY = /^[A-Za-z_$][\w$]*$/

/** `.key` for a plain key, else `["…"]` with JSON escapes, so a path never carries the character it complains of. */
function segment (key: string | number): string {
  if (typeof key === 'number') return `[${key}]`
  return PLAIN_KEY.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
}

// A JSON text is at least one byte per character of its strings and keys, and at most six (`\u001f`); a number
// takes 1 to 24 characters. The walk keeps the lower bound and the room above it, and serializes only an event
// whose upper bound passes the limit, which events of ordinary size never do.
const MAX_CHAR_BYTES = 6
const MAX_NUMBER_CHARS = 24

interface Walk { trail: Array<string | number>, maxDepth: number, maxBytes: number, low: number, slack: number }

const TOO_LARGE = Symbol('too large')

/** The first problem under `value`, its key left on `walk.trail`; TOO_LARGE once the text is surely too large. */
function visit (walk: Walk, value: unknown, depth: number): string | typeof TOO_LARGE | undefined {
  switch (typeof value) {
    case 'string': {
      const problem = textProblem(value)
      if (problem) return problem
      walk.low += value.length + 2
      walk.slack += value.length * (MAX_CHAR_BYTES - 1)
      return walk.low > walk.maxBytes ? TOO_LARGE : undefined
    }
    case 'number':
      if (!Number.isFinite(value)) return 'must be a finite number'
      walk.low += 1
      walk.slack += MAX_NUMBER_CHARS - 1
      return undefined
    case 'boolean':
      walk.low += value ? 4 : 5
      return undefined
    case 'undefined': // null in an array (and skipped in an object), as JSON.stringify has it
      walk.low += 4
      return undefined
    case 'object':
      break
    default:
      return 'is not a JSON value'
  }
  if (value === null) {
    walk.low += 4
    return undefined
  }
  if (depth >= walk.maxDepth) return `nests deeper than ${walk.maxDepth} levels`
  walk.low += 2 // the brackets; then a comma before every item but the first
  const { trail } = walk
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      trail.push(i)
      const problem = visit(walk, value[i], depth + 1)
      if (problem !== undefined) return problem
      trail.pop()
    }
    walk.low += Math.max(0, value.length - 1)
  } else {
    let first = true
    for (const key in value) {
      const item = (value as Record<string, unknown>)[key]
      if (item === undefined || !Object.hasOwn(value, key)) continue
      trail.push(key)
      const problem = textProblem(key)
      if (problem) return problem.replace('contains', 'is a key that contains')
      walk.low += key.length + (first ? 3 : 4) // quotes, colon, comma
      walk.slack += key.length * (MAX_CHAR_BYTES - 1)
      first = false
      const inner = visit(walk, item, depth + 1)
      if (inner !== undefined) return inner
      trail.pop()
    }
  }
  return walk.low > walk.maxBytes ? TOO_LARGE : undefined
}

/**
 * The first value of `root` that the event log cannot store, with its path (`data.note`, `results.rows[2]`), or
 * undefined. One walk that stops at the first problem; the size is that of the JSON text in UTF-8 bytes.
 */
export function storableProblem (root: unknown, limits: StorableLimits = {}): StorableProblem | undefined {
  const walk: Walk = { trail: [], maxDepth: limits.maxDepth ?? MAX_DEPTH, maxBytes: limits.maxBytes ?? MAX_EVENT_BYTES, low: 0, slack: 0 }
  const tooLarge = { path: '', message: `is larger than ${walk.maxBytes} bytes as JSON` }
  const problem = visit(walk, root, 0)
  if (problem === TOO_LARGE) return tooLarge
  if (problem !== undefined) return { path: walk.trail.map(segment).join('').replace(/^\./, ''), message: problem }
  if (walk.low + walk.slack > walk.maxBytes && Buffer.byteLength(JSON.stringify(root)) > walk.maxBytes) return tooLarge
  return undefined
}
