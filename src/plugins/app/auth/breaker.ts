// A circuit breaker for the auth service: consecutive failures open it, one trial call after a delay closes it again.
import { systemClock, type Clock } from '../../../clock.js'

// Forty lines of state machine rather than opossum: we need consecutive failures, one half-open trial and a state
// to report, not opossum's rolling windows, its own timeouts, events and fallbacks.
export type BreakerState = 'closed' | 'open' | 'half-open'

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  failures: number
  /** How long the circuit stays open before one trial call is let through. */
  resetMs: number
  onChange?: (state: BreakerState) => void
  clock?: Clock
}

export class BreakerOpenError extends Error {
  constructor () {
    super('circuit open')
    this.name = 'BreakerOpenError'
  }
}

export class CircuitBreaker {
  private current: BreakerState = 'closed'
  private failed = 0
  private openedAt = 0
  private trialRunning = false
  private readonly clock: Clock

  constructor (private readonly opts: BreakerOptions) {
    this.clock = opts.clock ?? systemClock
  }

  get state (): BreakerState {
    return this.current
  }

  /** Runs `fn` unless the circuit is open; `isFailure` says which errors count against the service. */
  async run<T> (fn: () => Promise<T>, isFailure: (err: unknown) => boolean): Promise<T> {
    if (this.current === 'open' && this.clock.now() - this.openedAt >= this.opts.resetMs) this.move('half-open')
    if (this.current === 'open' || (this.current === 'half-open' && this.trialRunning)) throw new BreakerOpenError()
    const trial = this.current === 'half-open'
    if (trial) this.trialRunning = true
    try {
      const value = await fn()
      this.succeeded(trial)
      return value
    } catch (err) {
      if (isFailure(err)) this.failedOnce(trial)
      else this.succeeded(trial)
      throw err
    } finally {
      if (trial) this.trialRunning = false
    }
  }

  private succeeded (trial: boolean): void {
    // A call that started before the circuit opened proves little; only the trial closes it again.
    if (trial || this.current === 'closed') {
      this.failed = 0
      if (trial) this.move('closed')
    }
  }

  private failedOnce (trial: boolean): void {
    this.failed++
    if (trial || (this.current === 'closed' && this.failed >= this.opts.failures)) {
      this.openedAt = this.clock.now()
      this.move('open')
    }
  }

  private move (state: BreakerState): void {
    if (state === this.current) return
    this.current = state
    this.opts.onChange?.(state)
  }
}
