// The connection registry: owns this instance's sockets and is the only code that writes to them and closes them.
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import { CloseCodes, type CloseCode } from '../../../errors.js'
import { seqOf } from '../../../events/envelope.js'
import { heartbeat, reconnectFrame, resumeFailed } from '../../../protocol/frames.js'
import type { Identity } from '../auth/identity.js'
import { tcpOf } from '../../external/websocket.js'
import type { Broker } from './broker.js'
import { Subscriptions } from './subscriptions.js'
import { StreamCursor, type CursorOwner, type ResumeFailure, type StreamPosition, type StreamSource } from './cursor.js'
import type { DeliveryObserver } from './delivery-metrics.js'
import type { WheelEntry } from './timer-wheel.js'

/** The socket type the registry owns; routes and services name it from here, not from `ws`. */
export type Socket = WebSocket

export interface Connection {
  readonly id: string
  readonly userId: string
  readonly socket: WebSocket
  readonly openedAt: number
  readonly log: FastifyBaseLogger
  /** The verified token the socket lives on; replaced by an auth_refresh for the same user. */
  identity: Identity
  /** Set by `register`: this socket's place in its user's stream. */
  cursor?: StreamCursor<Connection>
  /** When the client last sent a frame (ms); liveness sends a heartbeat after a silence. */
  lastSeenAt?: number
  /** When liveness asks this socket to reconnect (ms); kept on the connection rather than in a side table. */
  rotateAt?: number
  /** Liveness's wheel keeps the socket's next check here, for the same reason. */
  wheelEntry?: WheelEntry
}

export interface RegistryOptions {
  prefix: string
  /** Most live frames held for one socket while it catches up; past it the socket is closed to resume. */
  maxBacklog: number
  /**
   * Most bytes waiting to be written to one socket; past it the socket is closed as a slow consumer. A catch-up
   * (replay) is paced below it instead: it stops at a quarter of it and goes on once the socket has drained.
   */
  maxBufferedBytes: number
  observer?: DeliveryObserver
}

/** How long a slow consumer gets to take the close frame before its TCP connection is dropped. */
const SLOW_CLOSE_GRACE_MS = 1000

const OPEN = 1
const TEXT = { binary: false }

export class ConnectionRegistry implements CursorOwner<Connection> {
  /** Who is here and which user channels are subscribed; the registry only adds and removes its connections. */
  private readonly subscriptions: Subscriptions<Connection>
  private readonly drainMark: number

  constructor (broker: Broker, private readonly source: StreamSource, private readonly opts: RegistryOptions) {
    this.subscriptions = new Subscriptions(broker, opts.prefix)
    this.drainMark = Math.floor(opts.maxBufferedBytes / 4)
  }

  /** Routes one broker message to every local socket of the channel's user. The frame is sent as published: serialized once. */
  readonly onBrokerMessage = (channel: string, message: Buffer): void => {
    const conns = this.subscriptions.membersOf(channel)
    if (conns === undefined) return
    const seq = seqOf(message)
    if (seq === undefined) {
      for (const conn of conns) this.send(conn, message)
      return
    }
    // Counted: the frames the sockets take, not the repeats (a relay's or a duplicate's publish) their cursors drop.
    let taken = 0
    for (const conn of conns) if (conn.cursor?.offer(message, seq) === true) taken++
    this.opts.observer?.delivered(message, taken)
  }

  /**
   * Adds a socket once its user's channel is subscribed, then sends the welcome built from the stream's current
   * position as its first frame, then (with `resume`) replays what the client missed. Nothing published after
   * the position was read can be missed. Returns false if the socket closed meanwhile.
   */
  async register (conn: Connection, welcome: (position: StreamPosition) => unknown, resume?: { since: number, epoch: string }): Promise<boolean> {
    await this.subscriptions.join(conn.userId)
    if (conn.socket.readyState !== OPEN) {
      this.subscriptions.abandon(conn.userId).catch((err: unknown) => conn.log.warn({ err }, 'unsubscribe failed'))
      return false
    }
    // Join before reading the position, holding live frames: one published while we read cannot slip past.
    const cursor = this.cursorFor(conn)
    cursor.hold()
    this.subscriptions.admit(conn.userId, conn)
    let position: StreamPosition
    try {
      position = await this.source.position(conn.userId)
    } catch (err) {
      this.unregister(conn)
      throw err
    }
    if (conn.socket.readyState !== OPEN) {
      this.unregister(conn)
      return false
    }
    cursor.startAt(position)
    this.send(conn, welcome(position))
    if (resume) await cursor.resume(resume.since, resume.epoch)
    else cursor.release()
    return true
  }

  /** Removes a socket; the user's channel is unsubscribed after the last one leaves. */
  unregister (conn: Connection): void {
    this.subscriptions.leave(conn.userId, conn)?.catch((err: unknown) => conn.log.warn({ err }, 'unsubscribe failed'))
  }

  /** After the broker lost its connection: every local socket catches up on what was published meanwhile. */
  async resync (): Promise<void> {
    await Promise.all([...this.subscriptions.userMembers()].map(async (entry) => {
      if (entry.members.size === 0) return
      const position = await this.source.position(entry.userId)
      for (const conn of entry.members) conn.cursor?.catchUpTo(position.seq)
    }))
  }

  /** Sends one frame to one socket; objects are serialized here, bytes go as they are (as a text frame). */
  send (conn: Connection, frame: unknown): void {
    const socket = conn.socket
    if (socket.readyState !== OPEN) return
    if (Buffer.isBuffer(frame)) socket.send(frame, TEXT)
    else socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
    if (socket.bufferedAmount > this.opts.maxBufferedBytes) this.dropSlowConsumer(conn)
  }

  /**
   * A client that stopped reading must not make our heap grow: no more frames for it, a close that tells it to
   * resume, and if even the close cannot get through, the connection goes.
   */
  private dropSlowConsumer (conn: Connection): void {
    this.opts.observer?.closed('slow_consumer')
    conn.log.warn({ buffered: conn.socket.bufferedAmount }, 'slow consumer closed')
    this.close(conn, 'SLOW_CONSUMER')
    setTimeout(() => { if (conn.socket.readyState !== 3) conn.socket.terminate() }, SLOW_CLOSE_GRACE_MS).unref()
  }

  // The cursor's owner: one set of methods for every socket.
  write (conn: Connection, frame: Buffer): void { this.send(conn, frame) }

  /**
   * A catch-up frame, paced by the socket's own buffer: past the mark it goes with a write callback, and the
   * catch-up waits until it (and all before it) reached the OS. The buffer then stays below the mark plus one
   * frame, however long the replay, so a replay never makes its own socket a slow consumer. A peer that stops
   * reading keeps the replay waiting until liveness ends it.
   */
  replay (conn: Connection, frame: Buffer): Promise<void> | undefined {
    const socket = conn.socket
    if (socket.readyState !== OPEN) return undefined
    if (socket.bufferedAmount + frame.length <= this.drainMark) {
      socket.send(frame, TEXT)
      return undefined
    }
    // Called with an error instead if the socket closes first: either way the replay may go on (or stop).
    return new Promise((resolve) => socket.send(frame, TEXT, () => resolve()))
  }

  /** Whether the socket has had its welcome: nothing else may be written to it before. */
  welcomed (conn: Connection): boolean { return conn.cursor?.started === true }
  failed (conn: Connection, reason: ResumeFailure, position: StreamPosition): void {
    this.opts.observer?.resumed(reason)
    this.send(conn, resumeFailed(reason, position))
  }

  resumed (): void { this.opts.observer?.resumed('ok') }
  overflow (conn: Connection): void {
    this.opts.observer?.closed('catch_up_backlog')
    this.close(conn, 'TRY_AGAIN_LATER', 'too far behind: reconnect and resume')
  }

  isOpen (conn: Connection): boolean { return conn.socket.readyState === OPEN }
  warn (conn: Connection, err: unknown): void { conn.log.warn({ err }, 'catching up from history failed') }

  /** Answers a socket that will never be registered (auth failed, bad subprotocol): one frame, then the close. */
  refuse (socket: WebSocket, frame: unknown, code: CloseCode, reason?: string): void {
    if (socket.readyState === OPEN) socket.send(JSON.stringify(frame))
    const { code: number, reason: text } = CloseCodes[code]
    socket.close(number, reason ?? text)
  }

  close (conn: Connection, code: CloseCode, reason?: string): void {
    const { code: number, reason: text } = CloseCodes[code]
    conn.socket.close(number, reason ?? text)
  }

  /**
   * A protocol ping; liveness expects the pong before the socket's next check. With `withHeartbeat`, the idle
   * heartbeat frame goes in the same write: at 10,000 sockets the pings and heartbeats of a quiet instance were
   * most of its writes, one system call each.
   */
  ping (conn: Connection, withHeartbeat = false): void {
    const socket = conn.socket
    if (socket.readyState !== OPEN) return
    if (!withHeartbeat) {
      socket.ping()
      return
    }
    const tcp = tcpOf(socket)
    tcp?.cork()
    socket.ping()
    this.send(conn, heartbeat(conn.id))
    tcp?.uncork()
  }

  /** Drops the TCP connection without a close handshake: a peer that stopped answering cannot take one. */
  terminate (conn: Connection, reason: string): void {
    this.observeClose(reason)
    conn.socket.terminate()
  }

  /**
   * Shutdown, for sockets the registry may never have held (mid-handshake, mid-auth): each is closed with `code`,
   * and `terminateSockets` then drops whatever did not answer its close in time.
   */
  closeSockets (sockets: Iterable<WebSocket>, code: CloseCode): void {
    const { code: number, reason } = CloseCodes[code]
    for (const socket of sockets) socket.close(number, reason)
  }

  terminateSockets (sockets: Iterable<WebSocket>): void {
    for (const socket of sockets) socket.terminate()
  }

  /**
   * Shutdown within Cloud Run's 10 s: every socket is told the server is going and when to come back (jittered,
   * so the reconnects do not arrive as one storm), then closed with 1012, in batches spread over `windowMs`.
   */
  async drain (opts: { windowMs: number, batches: number, reconnectJitterMs: number }): Promise<number> {
    const all = [...this.list()]
    const size = Math.max(1, Math.ceil(all.length / opts.batches))
    const pause = all.length > size ? opts.windowMs / Math.ceil(all.length / size) : 0
    for (let i = 0; i < all.length; i += size) {
      for (const conn of all.slice(i, i + size)) {
        const delay = Math.floor(Math.random() * opts.reconnectJitterMs)
        this.send(conn, reconnectFrame('server_shutdown', 'server shutting down: reconnect (to any instance) and resume', delay, opts.windowMs, conn.cursor))
        this.close(conn, 'SERVICE_RESTART')
      }
      if (i + size < all.length) await new Promise((resolve) => setTimeout(resolve, pause))
    }
    this.opts.observer?.closed('shutdown')
    return all.length
  }

  /** Planned rotation: asked to reconnect before the platform cuts the request, then closed with 1001. */
  rotate (conn: Connection, reconnectDelayMs: number): void {
    this.observeClose('rotation')
    this.send(conn, reconnectFrame('reconnect', 'rotation: reconnect (to any instance) and resume', reconnectDelayMs, 0, conn.cursor))
    this.close(conn, 'ROTATION')
  }

  observeClose (reason: string): void { this.opts.observer?.closed(reason) }

  // Counts kept by the subscriptions, under the names metrics, admission (routes/ws.ts) and tests read.
  /** This instance's registered sockets: all of them, or one user's. */
  list (userId?: string): Generator<Connection> { return this.subscriptions.members(userId) }
  get connectionCount (): number { return this.subscriptions.memberCount }
  get userCount (): number { return this.subscriptions.userCount }
  connectionsOf (userId: string): number { return this.subscriptions.countOf(userId) }
  /** Resolves once the user has no socket here and their channel is unsubscribed (shutdown, tests). */
  whenGone (userId: string): Promise<void> { return this.subscriptions.whenGone(userId) }

  private cursorFor (conn: Connection): StreamCursor<Connection> {
    conn.cursor = new StreamCursor(conn, conn.userId, this, this.source, this.opts.maxBacklog)
    return conn.cursor
  }
}
