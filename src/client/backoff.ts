// Reconnect delays: full-jitter exponential backoff, so clients dropped together do not come back together.

export interface BackoffOptions {
  /** The first delay's upper bound, in ms (default 500). */
  baseMs?: number
  /** No delay exceeds this, in ms (default 30 000). */
  capMs?: number
  /** Attempts after a drop before giving up (default 10; Infinity retries forever). */
  maxAttempts?: number
}

export const BACKOFF_DEFAULTS = { baseMs: 500, capMs: 30_000, maxAttempts: 10 } as const

// Codes after which coming back as-is cannot help (docs/protocol.md, close codes).
const TERMINAL_CODES = new Set([1000, 1003])

/** After a close other than 1008: whether reconnecting could help at all, and whether an attempt is left for it. */
export function retryAfterClose (code: number, attempt: number, opts: BackoffOptions | false | undefined): { reconnect: boolean, willReconnect: boolean } {
  const reconnect = opts !== false && !TERMINAL_CODES.has(code)
  const max = opts === false ? 0 : (opts?.maxAttempts ?? BACKOFF_DEFAULTS.maxAttempts)
  return { reconnect, willReconnect: reconnect && attempt < max }
}

/**
 * The delay before attempt `attempt` (0 for the first retry): uniform in [0, min(cap, base·2^attempt)).
 * Full jitter rather than "exponential plus a little noise" because after a server restart every client
 * retries at once; spreading each wait over its whole window flattens that herd (AWS Architecture Blog,
 * "Exponential Backoff And Jitter"). The first retry is therefore near-immediate on average, as the
 * platform's frontend does.
 */
export function backoffDelay (attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = opts.baseMs ?? BACKOFF_DEFAULTS.baseMs
  const cap = opts.capMs ?? BACKOFF_DEFAULTS.capMs
  // 2^attempt overflows to Infinity long before it matters; min() keeps it at the cap.
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt))
  return Math.floor(random() * ceiling)
}
