// The pub/sub watchdog: a probe through the instance's own channel every few seconds; when probes stop arriving
// (a subscriber that is connected but deaf), readiness fails and the subscriber is reconnected.
export interface WatchdogOptions {
  intervalMs: number
  /** Probes missed in a row before the subscriber counts as deaf. */
  misses: number
  publish: (probe: string) => Promise<void>
  /** Drops the subscriber connection; the client reconnects, resubscribes, and the registry catches up. */
  reconnect: () => void
  warn: (message: string) => void
}

export class Watchdog {
  private lastSeen = Date.now()
  private lastReconnect = 0
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly opts: WatchdogOptions) {}

  /** A probe came back: the subscription path works end to end. */
  seen (): void { this.lastSeen = Date.now() }

  get healthy (): boolean { return Date.now() - this.lastSeen <= this.opts.intervalMs * this.opts.misses }

  start (): void {
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs)
    this.timer.unref()
  }

  stop (): void { clearInterval(this.timer) }

  private tick (): void {
    this.opts.publish(String(Date.now())).catch(() => undefined)
    const now = Date.now()
    // One reconnect per silent spell: give the new connection time to bring a probe back before trying again.
    if (!this.healthy && now - this.lastReconnect > this.opts.intervalMs * this.opts.misses) {
      this.lastReconnect = now
      this.opts.warn(`no probe back for ${now - this.lastSeen} ms: reconnecting the subscriber`)
      this.opts.reconnect()
    }
  }
}
