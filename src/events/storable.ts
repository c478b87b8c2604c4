// What the event log can store: well-formed text without NUL, bounded nesting, finite numbers, a bounded size.
// PostgreSQL's jsonb refuses the first two outright and runs out of stack on the third; a refusal there is a
// store failure that a retry cannot cure, so every such value is refused here, at the edge, naming its field.

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

/**
 * The first value of `root` that the event log cannot store, with its path (`data.note`, `results.rows[2]`), or
 * undefined. One walk, no serialization: the size is counted as it goes (UTF-8 bytes of keys and strings, plus
 * the JSON punctuation; escapes are not counted) and the walk stops at the first problem.
 */
export function storableProblem (root: unknown, limits: StorableLimits = {}): StorableProblem | undefined {
  const maxDepth = limits.maxDepth ?? MAX_DEPTH
  const maxBytes = limits.maxBytes ?? MAX_EVENT_BYTES
  // Keys from the root to the value being looked at; joined into a path only when there is a problem.
  const trail: Array<string | number> = []
  let bytes = 0
  const at = (message: string): StorableProblem => ({ path: trail.map(segment).join('').replace(/^\./, ''), message })
  const tooLarge = (): StorableProblem => ({ path: '', message: `is larger than ${maxBytes} bytes as JSON` })

  function walk (value: unknown, depth: number): StorableProblem | undefined {
    switch (typeof value) {
      case 'string': {
        const problem = textProblem(value)
        if (problem) return at(problem)
        bytes += Buffer.byteLength(value) + 2
        return bytes > maxBytes ? tooLarge() : undefined
      }
      case 'number':
        if (!Number.isFinite(value)) return at('must be a finite number')
        bytes += String(value).length
        return undefined
      case 'boolean':
        bytes += value ? 4 : 5
        return undefined
      case 'undefined': // null in an array (and skipped in an object), as JSON.stringify has it
        bytes += 4
        return undefined
      case 'object':
        break
      default:
        return at('is not a JSON value')
    }
    if (value === null) {
      bytes += 4
      return undefined
    }
    if (depth >= maxDepth) return at(`nests deeper than ${maxDepth} levels`)
    bytes += 2 // the brackets; then a comma before every item but the first
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        trail.push(i)
        const problem = walk(value[i], depth + 1)
        if (problem) return problem
        trail.pop()
        if (i > 0) bytes += 1
      }
    } else {
      let first = true
      for (const key of Object.keys(value)) {
        const item = (value as Record<string, unknown>)[key]
        if (item === undefined) continue
        trail.push(key)
        const problem = textProblem(key)
        if (problem) return at(problem.replace('contains', 'is a key that contains'))
        bytes += Buffer.byteLength(key) + (first ? 3 : 4) // quotes, colon, comma
        first = false
        const inner = walk(item, depth + 1)
        if (inner) return inner
        trail.pop()
      }
    }
    return bytes > maxBytes ? tooLarge() : undefined
  }
  return walk(root, 0) ?? (bytes > maxBytes ? tooLarge() : undefined)
}
