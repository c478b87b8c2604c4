// The user-scoped WebSocket at /ws and /api/v1/websocket: origin check and auth before the upgrade, then a session per socket.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Config } from '../config.js'
import { AuthError, AuthRateLimited, HttpErrors } from '../errors.js'
import { TokenBucket } from '../services/token-bucket.js'
import { originAllowed } from '../plugins/app/auth/origin.js'
import { parseProtocols } from '../protocol/tokens.js'
import { errorMessage } from '../protocol/frames.js'
import { WsQuerySchema } from '../schemas/ws.js'
import { serveSocket } from '../services/socket-session.js'

declare module 'fastify' {
  interface FastifyRequest { authError: AuthError | null }
}

export const WS_PATHS = ['/ws', '/api/v1/websocket'] as const

export interface WsOptions {
  ws: Config['ws']
  /** Origins allowed to open a socket; empty: every origin (refused at boot in production). */
  allowedOrigins: string[]
  /** Upgrades one client address may ask for per window (max 0: no limit). */
  perAddress?: { max: number, windowMs: number }
}

const ws: FastifyPluginAsyncTypebox<WsOptions> = async (app, opts) => {
  const { registry } = app
  const outcomes = app.metrics.counter('aeg_ws_auth_total', 'WebSocket authentications, by outcome', ['outcome'])
  const counted = (outcome: string): void => { outcomes.inc({ outcome }) }
  app.decorateRequest('authError', null)

  // Capacity first, before any work: a full or draining instance answers 503 with Retry-After, and the load
  // balancer or the client's backoff sends the socket elsewhere. The rate bounds reconnect storms after a deploy.
  const upgrades = new TokenBucket(opts.ws.upgradeRate, opts.ws.upgradeRate)
  // Per client address first, so that one address flooding upgrades spends its own allowance, not the instance's.
  const perAddress = opts.perAddress?.max ? app.createRateLimit({ max: opts.perAddress.max, timeWindow: opts.perAddress.windowMs }) : undefined
  // One hook for the three checks, in this order (a hook each was a promise and a turn of the hook runner each,
  // for every upgrade).
  app.addHook('onRequest', async (request, reply) => {
    const verdict = await perAddress?.(request)
    if (verdict !== undefined && !verdict.isAllowed && verdict.isExceeded) {
      counted('rate_limited')
      reply.header('retry-after', String(verdict.ttlInSeconds))
      app.rateLimitRefused(request, verdict.key)
      throw new HttpErrors.RateLimited(`too many upgrades from this address; retry in ${verdict.ttlInSeconds} s`)
    }
    const reason = app.draining
      ? 'this instance is shutting down'
      : registry.connectionCount >= opts.ws.maxSockets
        ? `this instance holds its maximum of ${opts.ws.maxSockets} sockets`
        : !upgrades.take() ? 'too many connections are being opened right now' : undefined
    if (reason !== undefined) {
      counted('over_capacity')
      reply.header('retry-after', String(app.draining ? 1 : 2))
      throw new HttpErrors.OverCapacity(`${reason}; retry shortly`)
    }
    // Cross-site WebSocket hijacking: a foreign page is refused before the upgrade (HTTP 403), so it never gets a socket.
    const origin = request.headers.origin
    if (!originAllowed(origin, opts.allowedOrigins)) throw new HttpErrors.OriginNotAllowed(JSON.stringify(String(origin).slice(0, 100)))
  })

  // Authenticate before the upgrade but answer after it: the platform's clients expect 101, then a frame and 1008.
  app.addHook('preValidation', async (request) => {
    try {
      request.identity = await app.auth.authenticateUpgrade(request)
      counted('ok')
    } catch (err) {
      // An address over its failed-auth limit is refused before the upgrade, as capacity is: 429 with Retry-After.
      if (err instanceof AuthRateLimited) {
        counted('rate_limited')
        throw Object.assign(new HttpErrors.RateLimited(err.message), { retryAfter: err.retryAfterS })
      }
      // Only a verdict on the token is 1008; anything unexpected is our fault, so retryable (1011), and logged.
      if (!(err instanceof AuthError)) request.log.error({ err }, 'websocket auth failed unexpectedly')
      request.authError = err instanceof AuthError ? err : new AuthError('AUTH_UNAVAILABLE', 'authentication could not complete, retry')
      counted(request.authError.code)
      request.log.info({ reason: request.authError.message, code: request.authError.code }, 'websocket auth refused')
    }
  })

  for (const path of WS_PATHS) {
    app.get(path, { websocket: true, schema: { querystring: WsQuerySchema } }, (socket, request) => {
      // Upgraded after the drain began: told at once, like every other socket of this instance.
      if (app.draining) {
        registry.refuse(socket, errorMessage('INTERNAL_ERROR', 'server shutting down: reconnect to another instance'), 'SERVICE_RESTART')
        return
      }
      if (parseProtocols(request.headers['sec-websocket-protocol']).length > 0 && socket.protocol === '') {
        registry.refuse(socket, errorMessage('UNSUPPORTED_PROTOCOL', 'none of the offered subprotocols is supported'), 'UNSUPPORTED_PROTOCOL')
        return
      }
      const identity = request.identity
      if (identity === null) {
        const err = request.authError ?? new AuthError('AUTH_FAILED', 'authentication failed')
        registry.refuse(socket, errorMessage(err.code, err.message), err.close)
        return
      }
      serveSocket(app, opts.ws, socket, request, identity)
    })
  }
}
export default ws
