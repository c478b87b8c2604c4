// Liveness per socket, spread over the interval: protocol pings (a missed pong ends the socket), idle heartbeats, rotation.
import type { WebSocket } from 'ws'
import type { Connection, ConnectionRegistry } from './registry.js'
import { systemClock, TimerWheel, type Clock } from './timer-wheel.js'

export interface LivenessOptions {
  /** Seconds between a socket's checks: it is pinged at each and must have answered by the next. */
  pingIntervalS: number
  /** Seconds without a client frame after which the server sends a `heartbeat` frame. */
  idleHeartbeatS: number
  /** Seconds after which a socket is asked to reconnect (Cloud Run cuts every request at 60 minutes); 0: never. */
  maxAgeS: number
  /** How far apart (seconds) rotated clients are told to spread their reconnects. */
  reconnectJitterS: number
  clock?: Clock
  /** Most sockets checked in one turn of the event loop (default 200). */
  maxPerSlice?: number
  onError?: (err: unknown) => void
}

/** What liveness does to sockets; the registry is the only writer. */
export type LivenessActions = Pick<ConnectionRegistry, 'ping' | 'terminate' | 'rotate' | 'welcomed'>

const OPEN = 1
/** Wheel resolution: checks land within 100 ms of their due time; a turn of 512 slots covers the default 25 s interval. */
const TICK_MS = 100
const SLOTS = 512
const SLICE_MS = 4

export class Liveness {
  private readonly wheel: TimerWheel<Connection>
  private readonly clock: Clock
  private readonly intervalMs: number
  /** Sockets that answered since their last ping; this instance's own, so apps in one process never see each other's. */
  private readonly answered = new WeakSet<WebSocket>()
  /** One listener for every socket: `this` is the socket that answered (ws calls listeners that way). */
  private readonly markAlive: (this: WebSocket) => void

  constructor (private readonly registry: LivenessActions, private readonly opts: LivenessOptions) {
    const answered = this.answered
    this.markAlive = function (this: WebSocket): void { answered.add(this) }
    this.clock = opts.clock ?? systemClock
    this.intervalMs = opts.pingIntervalS * 1000
    this.wheel = new TimerWheel({
      tickMs: TICK_MS,
      slots: SLOTS,
      maxPerSlice: opts.maxPerSlice ?? 200,
      sliceMs: SLICE_MS,
      clock: this.clock,
      fire: (conn, now) => this.check(conn, now),
      onError: opts.onError ?? (() => {})
    })
  }

  /**
   * Watches a socket from the moment it opens, before it is registered: it counts as alive until its first ping,
   * so a slow registration (position, replay) is never taken for a dead peer.
   */
  watch (conn: Connection): void {
    const now = this.clock.now()
    this.answered.add(conn.socket)
    conn.socket.on('pong', this.markAlive)
    // Jittered so that sockets opened together (a reconnect storm) leave together no more than they are pinged together.
    if (this.opts.maxAgeS > 0) conn.rotateAt = conn.openedAt + this.opts.maxAgeS * 1000 * (0.9 + Math.random() * 0.1)
    // The first check somewhere in the second half of the interval: a storm of sockets opened in one second is
    // pinged over half an interval, and keeps that spread from then on.
    this.wheel.schedule(conn, now + this.intervalMs * (0.5 + Math.random() * 0.5))
  }

  /** A closed socket leaves the wheel at once rather than at its next check. */
  unwatch (conn: Connection): void {
    this.wheel.cancel(conn)
  }

  get watched (): number { return this.wheel.size }

  start (): void { this.wheel.start() }

  stop (): void { this.wheel.stop() }

  /** Runs every check due by `now` (the clock's time by default), a bounded slice per turn of the event loop. */
  advance (now?: number): Promise<void> { return this.wheel.advance(now) }

  private check (conn: Connection, now: number): void {
    const socket = conn.socket
    // Closing or closed: its close handler unwatches it; nothing more to say to it.
    if (socket.readyState > OPEN) return
    if (!this.answered.has(socket)) {
      // No pong since the last check: a half-open connection the OS has not noticed. Nothing to say to it.
      conn.log.info('missed pong: socket terminated')
      this.registry.terminate(conn, 'missed_pong')
      return
    }
    this.wheel.schedule(conn, now + this.intervalMs)
    this.answered.delete(socket)
    // Still joining: its first frame must be the welcome; a rotation or a heartbeat waits for the next check.
    const welcomed = this.registry.welcomed(conn)
    const rotating = welcomed && conn.rotateAt !== undefined && now >= conn.rotateAt
    const idle = welcomed && !rotating && now - (conn.lastSeenAt ?? conn.openedAt) >= this.opts.idleHeartbeatS * 1000
    this.registry.ping(conn, idle)
    if (rotating) {
      conn.rotateAt = undefined
      this.registry.rotate(conn, Math.floor(Math.random() * this.opts.reconnectJitterS * 1000))
    }
  }
}
