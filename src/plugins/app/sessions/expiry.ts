// What holds a socket to its token's expiry: a warning shortly before, the close once the grace has run out.
import type { Clock } from '../../../clock.js'
import { TimerWheel, type WheelEntry } from '../fanout/timer-wheel.js'

/** The socket's side: methods of one shared prototype, not closures per socket. */
export interface ExpiryHandlers {
  /** The token expires at `expiresAt` (epoch s) and no refresh has arrived yet. */
  warnExpiry: (expiresAt: number) => void
  /** The token has expired and the grace is over. */
  expire: () => void
}

export interface ExpiryTiming { warningMs: number, graceMs: number }

/**
 * Every socket's expiry on one wheel: two timers per socket would be 20,000 timer objects at 10,000 sockets, and
 * tokens issued together (a reconnect storm) would expire in one burst; the wheel fires them a slice at a time.
 */
export function expiryWheel (onError: (err: unknown) => void, clock?: Clock): TimerWheel<ExpiryWatch> {
  // 100 ms is precise enough for a warning and a close; 1,024 slots span 102 s, longer waits take rounds.
  return new TimerWheel<ExpiryWatch>({ tickMs: 100, slots: 1024, maxPerSlice: 200, sliceMs: 4, fire: (watch) => watch.fire(), onError, clock })
}

export class ExpiryWatch {
  wheelEntry: WheelEntry | undefined = undefined
  private expiresAt: number | undefined
  private warned = false
  private done = false

  constructor (private readonly wheel: TimerWheel<ExpiryWatch>, private readonly timing: ExpiryTiming,
    private readonly handlers: ExpiryHandlers, private readonly onClear: (watch: ExpiryWatch) => void) {}

  /** (Re)starts the watch for a token expiring at `expiresAt` epoch seconds; a token without exp gets none. */
  set (expiresAt: number | undefined): void {
    if (this.done) return
    this.expiresAt = expiresAt
    this.warned = false
    if (expiresAt === undefined) this.wheel.cancel(this)
    else this.wheel.schedule(this, expiresAt * 1000 - this.timing.warningMs)
  }

  /** Called by the wheel: the warning first, then (at expiry plus grace) the close. */
  fire (): void {
    const expiresAt = this.expiresAt
    if (this.done || expiresAt === undefined) return
    if (this.warned) {
      this.handlers.expire()
      return
    }
    this.warned = true
    this.wheel.schedule(this, expiresAt * 1000 + this.timing.graceMs)
    this.handlers.warnExpiry(expiresAt)
  }

  /** Stops for good: called when the socket closes, so nothing outlives it. */
  clear (): void {
    if (this.done) return
    this.done = true
    this.wheel.cancel(this)
    this.onClear(this)
  }
}
