// Timers that hold a socket to its token's expiry: a warning shortly before, the close once the grace has run out.

// setTimeout fires at once for delays over 2^31-1 ms (about 24.8 days); longer waits re-arm in steps.
const MAX_DELAY = 2 ** 31 - 1

class Alarm {
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly at: number, private readonly fire: () => void) {
    this.arm()
  }

  private arm (): void {
    const delay = this.at - Date.now()
    this.timer = delay > MAX_DELAY ? setTimeout(() => this.arm(), MAX_DELAY) : setTimeout(this.fire, Math.max(0, delay))
  }

  cancel (): void {
    clearTimeout(this.timer)
  }
}

export interface ExpiryHandlers {
  /** The token expires at `expiresAt` (epoch s) and no refresh has arrived yet. */
  warn: (expiresAt: number) => void
  /** The token has expired and the grace is over. */
  expire: () => void
}

export interface ExpiryTiming { warningMs: number, graceMs: number }

export class ExpiryWatch {
  private alarms: Alarm[] = []
  private done = false

  constructor (private readonly timing: ExpiryTiming, private readonly handlers: ExpiryHandlers, private readonly onClear: (watch: ExpiryWatch) => void) {}

  /** (Re)starts the timers for a token expiring at `expiresAt` epoch seconds; a token without exp gets none. */
  set (expiresAt: number | undefined): void {
    this.cancel()
    if (this.done || expiresAt === undefined) return
    const ms = expiresAt * 1000
    this.alarms = [
      new Alarm(ms - this.timing.warningMs, () => this.handlers.warn(expiresAt)),
      new Alarm(ms + this.timing.graceMs, () => this.handlers.expire())
    ]
  }

  /** Stops for good: called when the socket closes, so no timer outlives it. */
  clear (): void {
    this.cancel()
    if (!this.done) {
      this.done = true
      this.onClear(this)
    }
  }

  private cancel (): void {
    for (const alarm of this.alarms) alarm.cancel()
    this.alarms = []
  }
}
