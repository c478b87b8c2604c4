// Liveness: ping every heartbeat interval and report a socket that stayed silent for a whole interval as dead.

/**
 * A lost network often closes nothing: no close frame, no error, just silence, and the browser may take minutes
 * to notice. Pinging at the interval the server announces keeps proxies from idling the socket out, and a socket
 * that has not said anything (pong included) since the last ping is given up so the client can reconnect.
 */
export class Heartbeat {
  private timer: ReturnType<typeof setInterval> | undefined
  private heard = true

  /** Anything received counts as a sign of life. */
  markHeard (): void {
    this.heard = true
  }

  start (intervalS: number, ping: () => void, dead: () => void): void {
    this.stop()
    if (!(intervalS > 0)) return
    this.heard = true
    this.timer = setInterval(() => {
      if (!this.heard) {
        this.stop()
        dead()
        return
      }
      this.heard = false
      ping()
    }, intervalS * 1000)
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }
}
