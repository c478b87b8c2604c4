// The e2e suite's own WebSocket client: records every frame with its arrival time and lets a check await the next match.
import WebSocket from 'ws'

export type Frame = Record<string, unknown> & { type?: unknown, data?: Record<string, unknown> }

export interface Received {
  frame: Frame
  /** The frame as it came off the wire, for the platform's string check (user i's frames never contain user j's id). */
  raw: string
  /** performance.now() at arrival. */
  at: number
}

export interface OpenOptions {
  headers?: Record<string, string>
  protocols?: string[]
  /** How long the upgrade may take; the platform's service level is 12 s. */
  timeoutMs: number
}

export class TimeoutError extends Error {}

export class E2ESocket {
  readonly frames: Received[] = []
  readonly closed: Promise<{ code: number, reason: string, at: number }>
  private waiters: Array<{ match: (r: Received) => boolean, resolve: (r: Received) => void }> = []

  private constructor (private readonly socket: WebSocket, readonly openedAt: number) {
    socket.on('message', (data) => {
      const raw = data.toString()
      let frame: Frame
      try { frame = JSON.parse(raw) as Frame } catch { frame = { type: '<not json>' } }
      const received = { frame, raw, at: performance.now() }
      this.frames.push(received)
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(received)) return true
        w.resolve(received)
        return false
      })
    })
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString(), at: performance.now() })))
  }

  /** Opens a socket; resolves once the upgrade completed, with how long it took. */
  static async open (url: string, opts: OpenOptions): Promise<{ socket: E2ESocket, openMs: number }> {
    const started = performance.now()
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers, handshakeTimeout: opts.timeoutMs })
    const socket = new E2ESocket(ws, started)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`upgrade refused: HTTP ${res.statusCode ?? '?'}`))
        ws.terminate()
      })
      ws.once('error', reject)
    })
    return { socket, openMs: performance.now() - started }
  }

  /** The first recorded frame matching, or the next one to arrive; rejects with TimeoutError after `ms`. */
  async next (match: (r: Received) => boolean, ms: number, what = 'a matching frame'): Promise<Received> {
    const seen = this.frames.find(match)
    if (seen) return seen
    return await new Promise<Received>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done)
        reject(new TimeoutError(`no ${what} within ${ms} ms (got: ${this.frames.map((r) => String(r.frame.type)).join(', ') || 'nothing'})`))
      }, ms)
      const done = (r: Received): void => { clearTimeout(timer); resolve(r) }
      this.waiters.push({ match, resolve: done })
    })
  }

  /** Resolves with the close, or rejects after `ms`. */
  async closedWithin (ms: number): Promise<{ code: number, reason: string, at: number }> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new TimeoutError(`not closed within ${ms} ms`)), ms) })
    try {
      return await Promise.race([this.closed, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  send (frame: unknown): void {
    this.socket.send(JSON.stringify(frame))
  }

  /** Drops the connection without a close handshake, as a lost network does. */
  drop (): void {
    this.socket.terminate()
  }

  async close (): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000)
    // A server that never answers the close must not hold the suite.
    await Promise.race([this.closed, new Promise((resolve) => setTimeout(resolve, 2000).unref())])
    this.socket.terminate()
  }
}
