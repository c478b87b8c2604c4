// A token bucket: `rate` per second on average, bursts up to `burst`. Written here because it is ten lines.
export class TokenBucket {
  private tokens: number
  private last = performance.now()

  constructor (private readonly rate: number, private readonly burst: number) {
    this.tokens = burst
  }

  /** Takes one token if there is one. */
  take (now = performance.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.rate / 1000)
    this.last = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}
