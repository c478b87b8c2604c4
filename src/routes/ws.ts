// The user-scoped WebSocket at /ws and /api/v1/websocket: accept, authenticate, register, then answer client frames.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { AuthError } from '../errors.js'
import type { Connection } from '../plugins/app/fanout/registry.js'
import { parseProtocols } from '../plugins/app/auth/tokens.js'
import { CHAT_TYPES, parseChatFrame, STOP_TYPES, THREAD_TYPES } from '../protocol/client-frames.js'
import { ack, checkClientFrame, connectionEstablished, errorMessage, heartbeatAck, parseResume, pong, type ClientFrame } from '../protocol/frames.js'
import { startRun, stopRun, threadHistory } from '../services/chat.js'

declare module 'fastify' {
  interface FastifyRequest { authError: AuthError | null }
}

export const WS_PATHS = ['/ws', '/api/v1/websocket'] as const

const ws: FastifyPluginAsync<{ heartbeatIntervalS: number }> = async (app, opts) => {
  const { registry } = app
  app.decorateRequest('authError', null)

  // Authenticate before the upgrade but answer after it: the platform's clients expect 101, then a frame and 1008.
  app.addHook('preValidation', async (request) => {
    try {
      request.identity = await app.auth.authenticate(request)
      app.metrics.auth('ok')
    } catch (err) {
      request.authError = err instanceof AuthError ? err : new AuthError('AUTH_FAILED', 'authentication failed')
      app.metrics.auth(request.authError.code)
      request.log.info({ reason: request.authError.message, code: request.authError.code }, 'websocket auth refused')
    }
  })

  function handleFrame (conn: Connection, data: RawData, isBinary: boolean): void {
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
    else if (type === 'resume') resume(conn, frame as ClientFrame)
    else if (CHAT_TYPES.has(type) || STOP_TYPES.has(type) || THREAD_TYPES.has(type)) chat(conn, { ...frame, type }, type)
    else registry.send(conn, ack(type, conn.userId))
  }

  function chat (conn: Connection, raw: object, type: string): void {
    const frame = parseChatFrame(raw)
    if (typeof frame === 'string') {
      registry.send(conn, errorMessage('INVALID_MESSAGE', frame))
      return
    }
    const work = CHAT_TYPES.has(type)
      ? startRun(app, conn, frame, type)
      : STOP_TYPES.has(type) ? stopRun(app, conn, frame) : threadHistory(app, conn, frame, type as 'switch_thread' | 'get_thread_history')
    work.catch((err: unknown) => {
      conn.log.error({ err, type }, 'client frame failed')
      registry.send(conn, errorMessage('INTERNAL_ERROR', `could not handle ${type}; try again`))
    })
  }

  function resume (conn: Connection, frame: ClientFrame): void {
    const wanted = parseResume(frame)
    if (typeof wanted !== 'object') {
      registry.send(conn, errorMessage('INVALID_MESSAGE', wanted ?? 'resume needs "since" and "epoch"'))
      return
    }
    conn.cursor?.resume(wanted.since, wanted.epoch).catch((err: unknown) => {
      conn.log.warn({ err }, 'resume failed')
      registry.send(conn, errorMessage('INTERNAL_ERROR', 'could not read your history, reconnect with since to retry'))
    })
  }

  function onSocket (socket: WebSocket, request: FastifyRequest): void {
    // Frames that arrive before registration completes wait, so the first frame out is always connection_established.
    let registered: Connection | null = null
    const early: Array<[RawData, boolean]> = []
    socket.on('message', (data, isBinary) => {
      if (registered) handleFrame(registered, data, isBinary)
      else if (early.length < 32) early.push([data, isBinary])
    })

    if (parseProtocols(request.headers['sec-websocket-protocol']).length > 0 && socket.protocol === '') {
      registry.refuse(socket, errorMessage('UNSUPPORTED_PROTOCOL', 'none of the offered subprotocols is supported'), 'UNSUPPORTED_PROTOCOL')
      return
    }
    const identity = request.identity
    if (identity === null) {
      const err = request.authError ?? new AuthError('AUTH_FAILED', 'authentication failed')
      registry.refuse(socket, errorMessage(err.code, err.message), err.code)
      return
    }

    const id = randomUUID()
    const log = request.log.child({ connection_id: id, user_id: identity.userId })
    const current: Connection = { id, userId: identity.userId, socket, openedAt: Date.now(), log }
    socket.on('close', () => registry.unregister(current))
    socket.on('error', (err) => log.debug({ err: { message: err.message } }, 'socket error'))

    const wanted = parseResume(request.query as Record<string, unknown>)
    const welcome = (position: { seq: number, epoch: string }): Record<string, unknown> =>
      connectionEstablished({ connectionId: id, userId: identity.userId, heartbeatIntervalS: opts.heartbeatIntervalS, ...position })
    registry.register(current, welcome, typeof wanted === 'object' ? wanted : undefined).then((ok) => {
      if (!ok) return
      log.debug('websocket registered')
      // A malformed since/epoch is answered after the welcome, which must stay the first frame; the socket is live.
      if (typeof wanted === 'string') registry.send(current, errorMessage('INVALID_MESSAGE', wanted))
      for (const [data, isBinary] of early.splice(0)) handleFrame(current, data, isBinary)
      registered = current
    }, (err: unknown) => {
      log.error({ err }, 'websocket registration failed')
      registry.refuse(socket, errorMessage('INTERNAL_ERROR', 'could not subscribe to your channel, reconnect'), 'INTERNAL_ERROR')
    })
  }

  for (const path of WS_PATHS) {
    app.get(path, { websocket: true }, onSocket)
  }
}
export default ws
