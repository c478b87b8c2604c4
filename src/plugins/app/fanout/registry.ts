// The connection registry: owns this instance's sockets (user id → connections) and is the only code that writes to them.
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import { CloseCodes, type CloseCode } from '../../../errors.js'
import { seqOf } from '../../../events/envelope.js'
import { resumeFailed } from '../../../protocol/frames.js'
import type { Identity } from '../auth/identity.js'
import { userChannel, type Broker } from './broker.js'
import { StreamCursor, type StreamPosition, type StreamSource } from './cursor.js'
import type { DeliveryObserver } from '../metrics.js'

export interface Connection {
  readonly id: string
  readonly userId: string
  readonly socket: WebSocket
  readonly openedAt: number
  readonly log: FastifyBaseLogger
  /** The verified token the socket lives on; replaced by an auth_refresh for the same user. */
  identity: Identity
  /** Set by `register`: this socket's place in its user's stream. */
  cursor?: StreamCursor
}

interface UserEntry {
  readonly userId: string
  readonly channel: string
  readonly conns: Set<Connection>
  /** Sockets waiting for the subscription before they join `conns`. */
  joining: number
  subscribed: boolean
  /** Subscription changes of one user run one after another, never interleaved. */
  chain: Promise<void>
  pending: number
}

export interface RegistryOptions {
  prefix: string
  /** Most live frames held for one socket while it catches up; past it the socket is closed to resume. */
  maxBacklog: number
  observer?: DeliveryObserver
}

const OPEN = 1

export class ConnectionRegistry {
  private readonly users = new Map<string, UserEntry>()
  private readonly channels = new Map<string, UserEntry>()
  private readonly goneWaiters = new Map<string, Array<() => void>>()
  private sockets = 0

  constructor (private readonly broker: Broker, private readonly source: StreamSource, private readonly opts: RegistryOptions) {}

  /** Routes one broker message to every local socket of the channel's user. The frame is sent as published: serialized once. */
  readonly onBrokerMessage = (channel: string, message: string): void => {
    const entry = this.channels.get(channel)
    if (entry === undefined) return
    const seq = seqOf(message)
    for (const conn of entry.conns) {
      if (seq === undefined) this.send(conn, message)
      else conn.cursor?.offer(message, seq)
    }
    if (seq !== undefined) this.opts.observer?.delivered(message, entry.conns.size)
  }

  /**
   * Adds a socket once its user's channel is subscribed, then sends the welcome built from the stream's current
   * position as its first frame, then (with `resume`) replays what the client missed. Nothing published after
   * the position was read can be missed. Returns false if the socket closed meanwhile.
   */
  async register (conn: Connection, welcome: (position: StreamPosition) => unknown, resume?: { since: number, epoch: string }): Promise<boolean> {
    const entry = this.entry(conn.userId)
    entry.joining++
    try {
      await this.reconcile(entry)
    } finally {
      entry.joining--
    }
    if (conn.socket.readyState !== OPEN) {
      this.reconcile(entry).catch((err: unknown) => conn.log.warn({ err }, 'unsubscribe failed'))
      return false
    }
    // Join before reading the position, holding live frames: one published while we read cannot slip past.
    const cursor = this.cursorFor(conn)
    cursor.hold()
    entry.conns.add(conn)
    this.sockets++
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
    const entry = this.users.get(conn.userId)
    if (entry === undefined || !entry.conns.delete(conn)) return
    this.sockets--
    if (entry.conns.size === 0) {
      this.reconcile(entry).catch((err: unknown) => conn.log.warn({ err }, 'unsubscribe failed'))
    }
  }

  /** After the broker lost its connection: every local socket catches up on what was published meanwhile. */
  async resync (): Promise<void> {
    await Promise.all([...this.users.values()].map(async (entry) => {
      if (entry.conns.size === 0) return
      const position = await this.source.position(entry.userId)
      for (const conn of entry.conns) conn.cursor?.catchUpTo(position.seq)
    }))
  }

  /** Sends one frame to one socket; objects are serialized here. */
  send (conn: Connection, frame: unknown): void {
    if (conn.socket.readyState !== OPEN) return
    conn.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

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

  /** Closes every socket of this instance (shutdown). */
  closeAll (code: CloseCode): void {
    for (const entry of this.users.values()) {
      for (const conn of entry.conns) this.close(conn, code)
    }
  }

  /** This instance's registered sockets: all of them, or one user's. */
  * list (userId?: string): Generator<Connection> {
    const entries = userId === undefined ? this.users.values() : [this.users.get(userId)]
    for (const entry of entries) {
      if (entry !== undefined) yield * entry.conns
    }
  }

  get connectionCount (): number { return this.sockets }
  get userCount (): number { return this.users.size }
  connectionsOf (userId: string): number { return this.users.get(userId)?.conns.size ?? 0 }

  /** Resolves once the user has no socket here and their channel is unsubscribed (shutdown, tests). */
  whenGone (userId: string): Promise<void> {
    if (!this.users.has(userId)) return Promise.resolve()
    return new Promise((resolve) => {
      const list = this.goneWaiters.get(userId) ?? []
      list.push(resolve)
      this.goneWaiters.set(userId, list)
    })
  }

  private cursorFor (conn: Connection): StreamCursor {
    conn.cursor = new StreamCursor(conn.userId, this.source, {
      write: (frame) => this.send(conn, frame),
      failed: (reason, position) => {
        this.opts.observer?.resumed(reason)
        this.send(conn, resumeFailed(reason, position))
      },
      resumed: () => this.opts.observer?.resumed('ok'),
      overflow: () => {
        this.opts.observer?.closed('catch_up_backlog')
        this.close(conn, 'TRY_AGAIN_LATER', 'too far behind: reconnect and resume')
      },
      isOpen: () => conn.socket.readyState === OPEN
    }, this.opts.maxBacklog, (err) => conn.log.warn({ err }, 'catching up from history failed'))
    return conn.cursor
  }

  private entry (userId: string): UserEntry {
    let entry = this.users.get(userId)
    if (entry === undefined) {
      entry = { userId, channel: userChannel(this.opts.prefix, userId), conns: new Set(), joining: 0, subscribed: false, chain: Promise.resolve(), pending: 0 }
      this.users.set(userId, entry)
    }
    return entry
  }

  /** Brings the broker subscription in line with whether the user has sockets here; serialized per user. */
  private reconcile (entry: UserEntry): Promise<void> {
    entry.pending++
    const step = entry.chain.then(async () => {
      const wanted = entry.conns.size + entry.joining > 0
      if (wanted && !entry.subscribed) {
        await this.broker.subscribe(entry.channel)
        entry.subscribed = true
        this.channels.set(entry.channel, entry)
      } else if (!wanted && entry.subscribed) {
        this.channels.delete(entry.channel)
        entry.subscribed = false
        await this.broker.unsubscribe(entry.channel)
      }
    }).finally(() => {
      entry.pending--
      const idle = entry.pending === 0 && !entry.subscribed && entry.conns.size === 0 && entry.joining === 0
      if (idle && this.users.get(entry.userId) === entry) {
        this.users.delete(entry.userId)
        for (const resolve of this.goneWaiters.get(entry.userId)?.splice(0) ?? []) resolve()
      }
    })
    entry.chain = step.catch(() => undefined)
    return step
  }
}
