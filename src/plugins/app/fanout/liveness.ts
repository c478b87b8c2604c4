// Liveness, one sweep for all sockets: protocol pings (a missed pong ends the socket), idle heartbeats, planned rotation.
import type { WebSocket } from 'ws'
import type { Connection, ConnectionRegistry } from './registry.js'

export interface LivenessOptions {
  /** Seconds between sweeps: each socket is pinged once a sweep and must pong before the next. */
  pingIntervalS: number
  /** Seconds without a client frame after which the server sends a `heartbeat` frame. */
  idleHeartbeatS: number
  /** Seconds after which a socket is asked to reconnect (Cloud Run cuts every request at 60 minutes); 0: never. */
  maxAgeS: number
  /** How far apart (seconds) rotated clients are told to spread their reconnects. */
  reconnectJitterS: number
}

// One function for every socket: `this` is the socket that answered (ws calls listeners that way).
const answered = new WeakSet<WebSocket>()
function markAlive (this: WebSocket): void { answered.add(this) }

export class Liveness {
  private timer: NodeJS.Timeout | undefined
  /** When each socket is due for rotation: jittered so that sockets opened together do not all leave together. */
  private readonly rotateAt = new WeakMap<Connection, number>()

  constructor (private readonly registry: ConnectionRegistry, private readonly opts: LivenessOptions) {}

  /** Called once per registered socket. */
  watch (conn: Connection): void {
    answered.add(conn.socket)
    conn.socket.on('pong', markAlive)
    if (this.opts.maxAgeS > 0) this.rotateAt.set(conn, conn.openedAt + this.opts.maxAgeS * 1000 * (0.9 + Math.random() * 0.1))
  }

  start (): void {
    this.timer = setInterval(() => this.sweep(), this.opts.pingIntervalS * 1000)
    this.timer.unref()
  }

  stop (): void { clearInterval(this.timer) }

  sweep (now = Date.now()): void {
    for (const conn of this.registry.list()) {
      const socket = conn.socket
      if (!answered.has(socket)) {
        // No pong since the last sweep: a half-open connection the OS has not noticed. Nothing to say to it.
        conn.log.info('missed pong: socket terminated')
        this.registry.terminate(conn, 'missed_pong')
        continue
      }
      answered.delete(socket)
      this.registry.ping(conn)
      const rotate = this.rotateAt.get(conn)
      if (rotate !== undefined && now >= rotate) {
        this.rotateAt.delete(conn)
        this.registry.rotate(conn, Math.floor(Math.random() * this.opts.reconnectJitterS * 1000))
      } else if (now - (conn.lastSeenAt ?? conn.openedAt) >= this.opts.idleHeartbeatS * 1000) {
        this.registry.heartbeat(conn)
      }
    }
  }
}
