// The user-scoped WebSocket at /ws and /api/v1/websocket: origin, auth, cap, registration, client frames, token expiry.
import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { AuthError, HttpErrors } from '../errors.js'
import type { Identity } from '../plugins/app/auth/identity.js'
import { originAllowed } from '../plugins/app/auth/origin.js'
import { parseProtocols } from '../plugins/app/auth/tokens.js'
import type { Connection } from '../plugins/app/fanout/registry.js'
import { ack, authRefreshed, checkClientFrame, connectionEstablished, errorMessage, pong, tokenExpiring, type ClientFrame } from '../protocol/frames.js'

declare module 'fastify' {
  interface FastifyRequest { authError: AuthError | null }
}

export const WS_PATHS = ['/ws', '/api/v1/websocket'] as const

export interface WsOptions {
  heartbeatIntervalS: number
  /** Origins allowed to open a socket; empty: any. */
  allowedOrigins: string[]
}

const ws: FastifyPluginAsync<WsOptions> = async (app, opts) => {
  const { registry, sessions } = app
  app.decorateRequest('authError', null)

  // Cross-site WebSocket hijacking: a foreign page is refused before the upgrade (HTTP 403), so it never gets a socket.
  app.addHook('onRequest', async (request) => {
    const origin = request.headers.origin
    if (!originAllowed(origin, opts.allowedOrigins)) throw new HttpErrors.OriginNotAllowed(JSON.stringify(String(origin).slice(0, 100)))
  })

  // Authenticate before the upgrade but answer after it: the platform's clients expect 101, then a frame and 1008.
  app.addHook('preValidation', async (request) => {
    try {
      request.identity = await app.auth.authenticateUpgrade(request)
    } catch (err) {
      // Only a verdict on the token is 1008; anything unexpected is our fault, so retryable (1011), and logged.
      if (!(err instanceof AuthError)) request.log.error({ err }, 'websocket auth failed unexpectedly')
      request.authError = err instanceof AuthError ? err : new AuthError('AUTH_UNAVAILABLE', 'authentication could not complete, retry')
      request.log.info({ reason: request.authError.message, code: request.authError.code }, 'websocket auth refused')
    }
  })

  /** Everything one socket does once its user is known; the registry stays the only writer. */
  function serve (socket: WebSocket, request: FastifyRequest, identity: Identity): void {
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
      if (type === 'ping') registry.send(conn, pong(conn.userId))
      else if (type === 'auth_refresh') refresh((frame as ClientFrame).token).catch((err: unknown) => log.error({ err }, 'auth_refresh failed'))
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
      const welcome = connectionEstablished({ connectionId: id, userId: identity.userId, heartbeatIntervalS: opts.heartbeatIntervalS })
      if (!await registry.register(conn, welcome)) return
      // A revocation that went out while this socket was being admitted did not see it: check once more.
      if (await sessions.revokedHere(conn.identity)) {
        registry.send(conn, errorMessage('TOKEN_REVOKED', 'this session was revoked: sign in again'))
        registry.close(conn, 'TOKEN_REVOKED')
        return
      }
      log.debug('websocket registered')
      expiry.set(conn.identity.expiresAt)
      registered = true
      for (const [data, isBinary] of early.splice(0)) handleFrame(data, isBinary)
    }
    start().catch((err: unknown) => {
      log.error({ err }, 'websocket registration failed')
      registry.refuse(socket, errorMessage('INTERNAL_ERROR', 'could not register this socket, reconnect'), 'INTERNAL_ERROR')
    })
  }

  function onSocket (socket: WebSocket, request: FastifyRequest): void {
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
    serve(socket, request, identity)
  }

  for (const path of WS_PATHS) {
    app.get(path, { websocket: true }, onSocket)
  }
}
export default ws
