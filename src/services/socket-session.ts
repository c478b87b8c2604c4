// One socket's life once its user is known: admission, registration (with resume), client frames, token expiry.
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { AuthError } from '../errors.js'
import { levelEnabled } from '../logger.js'
import { detachUpgradeResponse } from '../plugins/external/websocket.js'
import type { Identity } from '../plugins/app/auth/identity.js'
import type { Connection } from '../plugins/app/fanout/registry.js'
import type { WheelEntry } from '../plugins/app/fanout/timer-wheel.js'
import type { ExpiryHandlers, ExpiryWatch } from '../plugins/app/sessions/expiry.js'
import { CHAT_TYPES, parseChatFrame, STOP_TYPES, THREAD_TYPES } from '../protocol/client-frames.js'
import { ack, authRefreshed, checkClientFrame, connectionEstablished, errorMessage, heartbeatAck, parseResume, pong, tokenExpiring, type ClientFrame, type Resume } from '../protocol/frames.js'
import { startRun, stopRun, threadHistory } from './chat.js'
import { TokenBucket } from './token-bucket.js'

export interface SessionOptions { heartbeatIntervalS: number, messageRate: number, messageBurst: number }

/**
 * A connection whose child logger is made on first use: most sockets never log, and a pino child per socket
 * costs more memory than the rest of the connection.
 */
class LiveConnection implements Connection {
  readonly openedAt = Date.now()
  lastSeenAt = this.openedAt
  rotateAt: number | undefined = undefined
  wheelEntry: WheelEntry | undefined = undefined
  cursor?: Connection['cursor']
  private child: FastifyBaseLogger | undefined
  constructor (readonly id: string, readonly userId: string, readonly socket: WebSocket, public identity: Identity,
    private readonly parent: FastifyBaseLogger, private readonly reqId: string) {}

  get log (): FastifyBaseLogger {
    this.child ??= this.parent.child({ reqId: this.reqId, connection_id: this.id, user_id: this.userId })
    return this.child
  }
}

/** Methods on a prototype, state in fields: thousands of sockets share the code instead of each holding closures. */
class SocketSession implements ExpiryHandlers {
  readonly conn: LiveConnection
  private registered = false
  private closed = false
  private admitted = false
  private refreshing = false
  /** Frames that arrive before registration wait, so the first frame out is always connection_established. */
  private early: Array<[RawData, boolean]> | undefined = []
  private readonly expiry: ExpiryWatch
  /** Made at the first client frame: most sockets only listen, and a bucket made then starts as full as one made at connect. */
  private rate: TokenBucket | undefined
  /** When the client was last told it is over its rate: once a second is enough. */
  private limitedAt = 0

  constructor (private readonly app: FastifyInstance, private readonly opts: SessionOptions, socket: WebSocket, identity: Identity, reqId: string) {
    // The app's logger, not the request's: holding the request's child would keep it for the socket's life.
    this.conn = new LiveConnection(randomUUID(), identity.userId, socket, identity, app.log, reqId)
    this.expiry = app.sessions.watchExpiry(this)
  }

  warnExpiry (expiresAt: number): void { this.app.registry.send(this.conn, tokenExpiring(expiresAt)) }

  expire (): void {
    const { registry } = this.app
    this.conn.log.info('token expired without a refresh')
    registry.send(this.conn, errorMessage('TOKEN_EXPIRED', 'the token of this socket expired: reconnect with a new token'))
    registry.close(this.conn, 'TOKEN_EXPIRED')
  }

  onMessage (data: RawData, isBinary: boolean): void {
    const now = Date.now()
    this.conn.lastSeenAt = now
    this.rate ??= new TokenBucket(this.opts.messageRate, this.opts.messageBurst)
    if (!this.rate.take()) {
      // Over its rate: the frame is dropped, and the client told (at most once a second) rather than cut off.
      if (now - this.limitedAt >= 1000 && this.registered) {
        this.limitedAt = now
        this.app.registry.send(this.conn, errorMessage('RATE_LIMITED', `more than ${this.opts.messageRate} frames per second: frames are being dropped`))
      }
      return
    }
    if (this.registered) this.handleFrame(data, isBinary)
    else if (this.early !== undefined && this.early.length < 32) this.early.push([data, isBinary])
  }

  onClose (): void {
    this.closed = true
    this.expiry.clear()
    this.app.liveness.unwatch(this.conn)
    this.app.registry.unregister(this.conn)
    if (this.admitted) this.app.sessions.release(this.conn)
  }

  async start (wanted: Resume | string | undefined): Promise<void> {
    const { app, conn } = this
    // Watched from the start: a socket still being admitted, registered or replayed answers pings like any other.
    app.liveness.watch(conn)
    const ok = await app.sessions.admit(conn)
    if (ok && this.closed) app.sessions.release(conn)
    if (this.closed) return
    if (!ok) {
      conn.log.info('per-user socket cap reached')
      app.registry.refuse(conn.socket, errorMessage('TOO_MANY_CONNECTIONS', 'this user has too many sockets open; close one and retry'), 'TOO_MANY_CONNECTIONS')
      return
    }
    this.admitted = true
    const welcome = (position: { seq: number, epoch: string }): Record<string, unknown> =>
      connectionEstablished({ connectionId: conn.id, userId: conn.userId, heartbeatIntervalS: this.opts.heartbeatIntervalS, ...position })
    if (!await app.registry.register(conn, welcome, typeof wanted === 'object' ? wanted : undefined)) return
    // A revocation that went out while this socket was being admitted did not see it: check once more.
    if (await app.sessions.revokedHere(conn.identity)) {
      app.registry.send(conn, errorMessage('TOKEN_REVOKED', 'this session was revoked: sign in again'))
      app.registry.close(conn, 'TOKEN_REVOKED')
      return
    }
    // A malformed since/epoch is answered after the welcome, which must stay the first frame; the socket is live.
    if (typeof wanted === 'string') app.registry.send(conn, errorMessage('INVALID_MESSAGE', wanted))
    this.expiry.set(conn.identity.expiresAt)
    this.registered = true
    // At debug the upgrade's request line is written too; below it, no line per socket (and no child logger made for one).
    if (levelEnabled(app.log, 'debug')) conn.log.debug({ resumed: typeof wanted === 'object' }, 'socket registered')
    const early = this.early ?? []
    this.early = undefined
    for (const [data, isBinary] of early) this.handleFrame(data, isBinary)
  }

  private handleFrame (data: RawData, isBinary: boolean): void {
    const { registry } = this.app
    const conn = this.conn
    if (isBinary) {
      registry.send(conn, errorMessage('INVALID_MESSAGE', 'binary frames are not supported: send JSON text'))
      return
    }
    let frame: unknown
    try {
      frame = JSON.parse(data.toString())
    } catch {
      registry.send(conn, errorMessage('JSON_PARSE_ERROR', 'Invalid JSON format'))
      return
    }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame) || !checkClientFrame.Check(frame)) {
      registry.send(conn, errorMessage('INVALID_MESSAGE', 'a frame must be a JSON object with a string "type"'))
      return
    }
    const type = (frame as ClientFrame).type ?? 'user_message'
    // Answers to our own pings need no answer.
    if (type === 'pong' || type === 'heartbeat_ack') return
    if (type === 'ping') registry.send(conn, pong(conn.userId))
    else if (type === 'heartbeat') registry.send(conn, heartbeatAck())
    else if (type === 'auth_refresh') this.refresh((frame as ClientFrame).token).catch((err: unknown) => conn.log.error({ err }, 'auth_refresh failed'))
    else if (type === 'resume') this.resume(frame as ClientFrame)
    else if (CHAT_TYPES.has(type) || STOP_TYPES.has(type) || THREAD_TYPES.has(type)) this.chat({ ...frame, type }, type)
    else registry.send(conn, ack(type, conn.userId))
  }

  private async refresh (token: unknown): Promise<void> {
    const { app, conn } = this
    if (typeof token !== 'string' || token === '') {
      app.registry.send(conn, errorMessage('INVALID_MESSAGE', 'auth_refresh needs a "token" string'))
      return
    }
    // One at a time: a client cannot turn the socket into a pump of calls to the auth service.
    if (this.refreshing) {
      app.registry.send(conn, errorMessage('AUTH_REFRESH_FAILED', 'a refresh is already in progress'))
      return
    }
    this.refreshing = true
    try {
      const next = await app.auth.verify(token)
      // Identity never changes on a socket: another user's token is refused and the socket keeps its old expiry.
      if (next.userId !== conn.userId) {
        conn.log.warn('auth_refresh with another user\'s token refused')
        app.registry.send(conn, errorMessage('AUTH_REFRESH_FAILED', 'the token belongs to another user; this socket keeps its current token'))
        return
      }
      conn.identity = next
      this.expiry.set(next.expiresAt)
      app.registry.send(conn, authRefreshed(next.expiresAt))
    } catch (err) {
      const unavailable = err instanceof AuthError && err.code === 'AUTH_UNAVAILABLE'
      const reason = err instanceof AuthError ? err.message : 'refresh failed'
      app.registry.send(conn, errorMessage(unavailable ? 'AUTH_UNAVAILABLE' : 'AUTH_REFRESH_FAILED', `${reason}; this socket keeps its current token`))
    } finally {
      this.refreshing = false
    }
  }

  private chat (raw: object, type: string): void {
    const { app, conn } = this
    const frame = parseChatFrame(raw)
    if (typeof frame === 'string') {
      app.registry.send(conn, errorMessage('INVALID_MESSAGE', frame))
      return
    }
    const work = CHAT_TYPES.has(type)
      ? startRun(app, conn, frame, type)
      : STOP_TYPES.has(type) ? stopRun(app, conn, frame) : threadHistory(app, conn, frame, type as 'switch_thread' | 'get_thread_history')
    work.catch((err: unknown) => {
      conn.log.error({ err, type }, 'client frame failed')
      app.registry.send(conn, errorMessage('INTERNAL_ERROR', `could not handle ${type}; try again`))
    })
  }

  private resume (frame: ClientFrame): void {
    const { app, conn } = this
    const wanted = parseResume(frame)
    if (typeof wanted !== 'object') {
      app.registry.send(conn, errorMessage('INVALID_MESSAGE', wanted ?? 'resume needs "since" and "epoch"'))
      return
    }
    conn.cursor?.resume(wanted.since, wanted.epoch).catch((err: unknown) => {
      conn.log.warn({ err }, 'resume failed')
      app.registry.send(conn, errorMessage('INTERNAL_ERROR', 'could not read your history, reconnect with since to retry'))
    })
  }
}

const SESSION = Symbol('session')
type Served = WebSocket & { [SESSION]: SocketSession }
// One listener per event for every socket, which finds its session on the socket: three closures per socket and
// the scope they shared were about 250 B of each socket's memory.
const sessionOf = (socket: WebSocket): SocketSession => (socket as Served)[SESSION]
function onMessage (this: WebSocket, data: RawData, isBinary: boolean): void { sessionOf(this).onMessage(data, isBinary) }
function onClose (this: WebSocket): void { sessionOf(this).onClose() }
function onError (this: WebSocket, err: Error): void { sessionOf(this).conn.log.debug({ err: { message: err.message } }, 'socket error') }

/** Serves one authenticated socket; the registry stays the only writer. */
export function serveSocket (app: FastifyInstance, opts: SessionOptions, socket: WebSocket, request: FastifyRequest, identity: Identity): void {
  const wanted = parseResume(request.query as Record<string, unknown>)
  const session = new SocketSession(app, opts, socket, identity, request.id)
  // @fastify/websocket's own error listener holds the upgrade request and reply for the socket's whole life
  // (with the token in their headers); ours holds neither, so they can be collected once the upgrade is done.
  // Ours is added before theirs goes: at no moment is the socket without one.
  const theirs = socket.listeners('error') as Array<(err: Error) => void>
  ;(socket as Served)[SESSION] = session
  socket.on('error', onError)
  for (const listener of theirs) socket.removeListener('error', listener)
  // Nor the ServerResponse it gave the TCP socket: the upgrade is over.
  detachUpgradeResponse(socket)
  socket.on('message', onMessage)
  socket.on('close', onClose)
  session.start(wanted).catch((err: unknown) => {
    session.conn.log.error({ err }, 'websocket registration failed')
    app.registry.refuse(socket, errorMessage('INTERNAL_ERROR', 'could not register this socket, reconnect'), 'INTERNAL_ERROR')
  })
}
