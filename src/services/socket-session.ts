// One socket's life once its user is known: admission, registration (with resume), client frames, token expiry.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { AuthError } from '../errors.js'
import type { Identity } from '../plugins/app/auth/identity.js'
import type { Connection } from '../plugins/app/fanout/registry.js'
import { CHAT_TYPES, parseChatFrame, STOP_TYPES, THREAD_TYPES } from '../protocol/client-frames.js'
import { ack, authRefreshed, checkClientFrame, connectionEstablished, errorMessage, heartbeatAck, parseResume, pong, tokenExpiring, type ClientFrame } from '../protocol/frames.js'
import { startRun, stopRun, threadHistory } from './chat.js'

export interface SessionOptions { heartbeatIntervalS: number }

/** Serves one authenticated socket; the registry stays the only writer. */
export function serveSocket (app: FastifyInstance, opts: SessionOptions, socket: WebSocket, request: FastifyRequest, identity: Identity): void {
  const { registry, sessions } = app
  const id = randomUUID()
  const log = request.log.child({ connection_id: id, user_id: identity.userId })
  const conn: Connection = { id, userId: identity.userId, socket, openedAt: Date.now(), log, identity }
  let registered = false
  let closed = false
  let admitted = false
  let refreshing = false
  // Frames that arrive before registration completes wait, so the first frame out is always connection_established.
  const early: Array<[RawData, boolean]> = []

  const expiry = sessions.watchExpiry({
    warn: (expiresAt) => registry.send(conn, tokenExpiring(expiresAt)),
    expire: () => {
      log.info('token expired without a refresh')
      registry.send(conn, errorMessage('TOKEN_EXPIRED', 'the token of this socket expired: reconnect with a new token'))
      registry.close(conn, 'TOKEN_EXPIRED')
    }
  })

  async function refresh (token: unknown): Promise<void> {
    if (typeof token !== 'string' || token === '') {
      registry.send(conn, errorMessage('INVALID_MESSAGE', 'auth_refresh needs a "token" string'))
      return
    }
    // One at a time: a client cannot turn the socket into a pump of calls to the auth service.
    if (refreshing) {
      registry.send(conn, errorMessage('AUTH_REFRESH_FAILED', 'a refresh is already in progress'))
      return
    }
    refreshing = true
    try {
      const next = await app.auth.verify(token)
      // Identity never changes on a socket: another user's token is refused and the socket keeps its old expiry.
      if (next.userId !== conn.userId) {
        log.warn('auth_refresh with another user\'s token refused')
        registry.send(conn, errorMessage('AUTH_REFRESH_FAILED', 'the token belongs to another user; this socket keeps its current token'))
        return
      }
      conn.identity = next
      expiry.set(next.expiresAt)
      registry.send(conn, authRefreshed(next.expiresAt))
    } catch (err) {
      const unavailable = err instanceof AuthError && err.code === 'AUTH_UNAVAILABLE'
      const reason = err instanceof AuthError ? err.message : 'refresh failed'
      registry.send(conn, errorMessage(unavailable ? 'AUTH_UNAVAILABLE' : 'AUTH_REFRESH_FAILED', `${reason}; this socket keeps its current token`))
    } finally {
      refreshing = false
    }
  }

  function chat (raw: object, type: string): void {
    const frame = parseChatFrame(raw)
    if (typeof frame === 'string') {
      registry.send(conn, errorMessage('INVALID_MESSAGE', frame))
      return
    }
    const work = CHAT_TYPES.has(type)
      ? startRun(app, conn, frame, type)
      : STOP_TYPES.has(type) ? stopRun(app, conn, frame) : threadHistory(app, conn, frame, type as 'switch_thread' | 'get_thread_history')
    work.catch((err: unknown) => {
      log.error({ err, type }, 'client frame failed')
      registry.send(conn, errorMessage('INTERNAL_ERROR', `could not handle ${type}; try again`))
    })
  }

  function resume (frame: ClientFrame): void {
    const wanted = parseResume(frame)
    if (typeof wanted !== 'object') {
      registry.send(conn, errorMessage('INVALID_MESSAGE', wanted ?? 'resume needs "since" and "epoch"'))
      return
    }
    conn.cursor?.resume(wanted.since, wanted.epoch).catch((err: unknown) => {
      log.warn({ err }, 'resume failed')
      registry.send(conn, errorMessage('INTERNAL_ERROR', 'could not read your history, reconnect with since to retry'))
    })
  }

  function handleFrame (data: RawData, isBinary: boolean): void {
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
    else if (type === 'auth_refresh') refresh((frame as ClientFrame).token).catch((err: unknown) => log.error({ err }, 'auth_refresh failed'))
    else if (type === 'resume') resume(frame as ClientFrame)
    else if (CHAT_TYPES.has(type) || STOP_TYPES.has(type) || THREAD_TYPES.has(type)) chat({ ...frame, type }, type)
    else registry.send(conn, ack(type, conn.userId))
  }

  socket.on('message', (data, isBinary) => {
    if (registered) handleFrame(data, isBinary)
    else if (early.length < 32) early.push([data, isBinary])
  })
  socket.on('close', () => {
    closed = true
    expiry.clear()
    registry.unregister(conn)
    if (admitted) sessions.release(conn)
  })
  socket.on('error', (err) => log.debug({ err: { message: err.message } }, 'socket error'))

  const start = async (): Promise<void> => {
    const ok = await sessions.admit(conn)
    if (ok && closed) sessions.release(conn)
    if (closed) return
    if (!ok) {
      log.info('per-user socket cap reached')
      registry.refuse(socket, errorMessage('TOO_MANY_CONNECTIONS', 'this user has too many sockets open; close one and retry'), 'TOO_MANY_CONNECTIONS')
      return
    }
    admitted = true
    const wanted = parseResume(request.query as Record<string, unknown>)
    const welcome = (position: { seq: number, epoch: string }): Record<string, unknown> =>
      connectionEstablished({ connectionId: id, userId: identity.userId, heartbeatIntervalS: opts.heartbeatIntervalS, ...position })
    if (!await registry.register(conn, welcome, typeof wanted === 'object' ? wanted : undefined)) return
    // A revocation that went out while this socket was being admitted did not see it: check once more.
    if (await sessions.revokedHere(conn.identity)) {
      registry.send(conn, errorMessage('TOKEN_REVOKED', 'this session was revoked: sign in again'))
      registry.close(conn, 'TOKEN_REVOKED')
      return
    }
    log.debug('websocket registered')
    // A malformed since/epoch is answered after the welcome, which must stay the first frame; the socket is live.
    if (typeof wanted === 'string') registry.send(conn, errorMessage('INVALID_MESSAGE', wanted))
    expiry.set(conn.identity.expiresAt)
    registered = true
    for (const [data, isBinary] of early.splice(0)) handleFrame(data, isBinary)
  }
  start().catch((err: unknown) => {
    log.error({ err }, 'websocket registration failed')
    registry.refuse(socket, errorMessage('INTERNAL_ERROR', 'could not register this socket, reconnect'), 'INTERNAL_ERROR')
  })
}
