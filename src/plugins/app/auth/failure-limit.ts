// Failed authentications per client address: past a bound in a window, the address is refused before any verification.
import { LRUCache } from 'lru-cache'

export interface FailureLimitOptions {
  /** Failed authentications one address may have per window; 0 turns the limit off. */
  max: number
  windowMs: number
  /** Addresses tracked at once (least recently seen go first). */
  size?: number
  now?: () => number
}

export class FailureLimit {
  private readonly windows: LRUCache<string, { count: number, resetAt: number }>
  private readonly now: () => number

  constructor (private readonly opts: FailureLimitOptions) {
    this.windows = new LRUCache({ max: opts.size ?? 100_000 })
    this.now = opts.now ?? Date.now
  }

  /**
   * Seconds until the address may try again, or undefined when it may try now. Takes the address lazily: with no
   * failures on record (the usual case) it is never read, and a socket whose peer address was read keeps it.
   */
  blocked (address: () => string): number | undefined {
    if (this.opts.max === 0 || this.windows.size === 0) return undefined
    const w = this.windows.get(address())
    const now = this.now()
    if (w === undefined || w.resetAt <= now || w.count < this.opts.max) return undefined
    return Math.max(1, Math.ceil((w.resetAt - now) / 1000))
  }

  /** Counts one failure; returns true when it is the one that reached the bound (the moment to log, once). */
  record (address: string): boolean {
    if (this.opts.max === 0) return false
    const now = this.now()
    let w = this.windows.get(address)
    if (w === undefined || w.resetAt <= now) {
      w = { count: 0, resetAt: now + this.opts.windowMs }
      this.windows.set(address, w)
    }
    w.count++
    return w.count === this.opts.max
  }
}
