// The auth plugin: one place that turns a request into a verified user (or a service), whatever the mode.
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Clock } from '../../../clock.js'
import type { AuthConfig, Config } from '../../../config.js'
import { AuthError, AuthRateLimited, HttpErrors } from '../../../errors.js'
import { secretMatcher } from '../../../secret.js'
import { BreakerOpenError, CircuitBreaker, type BreakerState } from './breaker.js'
import { createDevVerifier } from './dev-verifier.js'
import { FailureLimit } from './failure-limit.js'
import type { Identity, TokenVerifier } from './identity.js'
import { createLocalVerifier, MAX_TOKEN_AGE_S } from './local-verifier.js'
import { createRemoteVerifier } from './remote-verifier.js'
import type { RevocationStore } from './revocations.js'
import type { TicketStore } from './tickets.js'
import { bearerToken, extractTicket, extractToken } from '../../../protocol/tokens.js'
import { withCache, type VerifyStats } from './verify-cache.js'

export interface AuthStatus {
  mode: AuthConfig['mode']
  breaker?: BreakerState
  cache?: VerifyStats & { size: number }
}

export interface Auth {
  readonly mode: AuthConfig['mode']
  /** Verifies a token (through the cache and breaker in remote mode) and refuses revoked ones. */
  verify: (token: string) => Promise<Identity>
  /** The user behind an HTTP request's `Authorization: Bearer`; throws AuthError otherwise. */
  authenticate: (request: FastifyRequest) => Promise<Identity>
  /** The user behind a WebSocket upgrade: a token (header, subprotocol, ?token=) or else a single-use ?ticket=. */
  authenticateUpgrade: (request: FastifyRequest) => Promise<Identity>
  /** Whether the request carries the agent backends' X-Service-ID / X-Service-Secret (ingest). */
  isService: (request: FastifyRequest) => boolean
  /** Whether the request carries the operator's X-Admin-Secret (revocation). */
  isAdmin: (request: FastifyRequest) => boolean
  readonly tickets: TicketStore
  readonly revocations: RevocationStore
  status: () => AuthStatus
}

declare module 'fastify' {
  interface FastifyInstance { auth: Auth }
  interface FastifyRequest { identity: Identity | null }
}

const NO_TOKEN = 'no token: send Authorization: Bearer <jwt>, a subprotocol jwt.<token>, jwt-auth.<token> or bearer.<token>, ?token= or ?ticket='

interface Verification { verifier: TokenVerifier, status: () => Omit<AuthStatus, 'mode'> }

/** Remote mode: (the cache, added for every mode) → single flight → breaker → HTTP. */
function remoteVerification (auth: Extract<AuthConfig, { mode: 'remote' }>, log: FastifyBaseLogger, clock: Clock): Verification {
  // The gateway's own credentials with the auth service (AUTH_SERVICE_ID/SECRET), never ones it accepts itself.
  const remote = createRemoteVerifier(auth)
  const breaker = new CircuitBreaker({
    ...auth.breaker,
    clock,
    onChange: (state) => log.warn({ breaker: state }, `auth service circuit ${state}`)
  })
  const guarded: TokenVerifier = {
    async verify (token) {
      try {
        return await breaker.run(() => remote.verify(token), (err) => !(err instanceof AuthError) || err.code === 'AUTH_UNAVAILABLE')
      } catch (err) {
        if (err instanceof BreakerOpenError) throw new AuthError('AUTH_UNAVAILABLE', 'auth service unavailable: circuit open, retry later')
        throw err
      }
    },
    close: remote.close
  }
  // A bound on calls in flight, outside the breaker: a flood of junk waits for no connection and times out on none,
  // so it cannot open the circuit for everyone; over the bound, a verification is refused at once (retryable).
  let inFlight = 0
  const bounded: TokenVerifier = {
    async verify (token) {
      if (inFlight >= auth.maxConcurrent) throw new AuthError('AUTH_UNAVAILABLE', 'auth service busy, retry shortly')
      inFlight++
      try {
        return await guarded.verify(token)
      } finally {
        inFlight--
      }
    },
    close: guarded.close
  }
  return { verifier: bounded, status: () => ({ breaker: breaker.state }) }
}

function verification (config: Config, log: FastifyBaseLogger, clock: Clock): Verification {
  const auth = config.auth
  const inner: Verification = auth.mode === 'remote'
    ? remoteVerification(auth, log, clock)
    : { verifier: auth.mode === 'dev' ? createDevVerifier(auth.secret, auth.clockSkewS, clock) : createLocalVerifier(auth, clock), status: () => ({}) }
  // First where verifying costs: a call to the auth service, or a public-key verification with a JWKS, is paid once
  // per token; a user's reconnects and second socket reuse the verdict, and cached users connect during an auth
  // outage. No entry outlives the token's exp or its 24 h age (the platform's auth service refuses older tokens
  // too). Revocation is still checked at every connect, behind the cache. HS256 alone (dev, or jwt without a key
  // set) has none: its HMAC costs what the cache's own SHA-256 of the token does, and an entry held about 170 B
  // per token for nothing.
  if (auth.mode === 'dev' || (auth.mode === 'jwt' && !auth.jwksUrl)) return inner
  const cached = withCache(inner.verifier, { ...auth.cache, maxTokenAgeS: MAX_TOKEN_AGE_S }, clock)
  return { verifier: cached, status: () => ({ ...inner.status(), cache: { ...cached.stats, size: cached.size } }) }
}

export default fp<{ config: Config, clock: Clock }>(async (app, { config, clock }) => {
  const { verifier, status } = verification(config, app.log, clock)
  const { tickets, revocations } = app.backends

  async function notRevoked (identity: Identity): Promise<Identity> {
    let revoked: boolean
    try {
      revoked = await revocations.isRevoked(identity)
    } catch {
      // Fail closed but retryable: without the revocation list we cannot say the token is still good.
      throw new AuthError('AUTH_UNAVAILABLE', 'revocation list unavailable, retry later')
    }
    if (revoked) throw new AuthError('AUTH_FAILED', 'token revoked')
    return identity
  }

  const verify = async (token: string): Promise<Identity> => await notRevoked(await verifier.verify(token))

  // An address that keeps presenting bad tokens is refused before any verification until its window ends.
  const failures = new FailureLimit({ max: config.clientLimits.authFailures, windowMs: config.clientLimits.windowMs })
  async function limited (request: FastifyRequest, attempt: () => Promise<Identity>): Promise<Identity> {
    const wait = failures.blocked(() => request.ip)
    if (wait !== undefined) throw new AuthRateLimited(wait)
    try {
      return await attempt()
    } catch (err) {
      // Logged once, when the address reaches the bound: a flood costs one line, not one per request.
      if (err instanceof AuthError && err.code === 'AUTH_FAILED' && failures.record(request.ip)) {
        request.log.info({ address: request.ip, window_s: config.clientLimits.windowMs / 1000 }, 'client address over its failed-authentication limit')
      }
      throw err
    }
  }

  async function upgradeIdentity (request: FastifyRequest): Promise<Identity> {
    const source = extractToken(request.headers, request.query)
    if (source) return await verify(source.token)
    const ticket = extractTicket(request.query)
    if (ticket === undefined) throw new AuthError('AUTH_FAILED', NO_TOKEN)
    let identity: Identity | undefined
    try {
      identity = await tickets.consume(ticket)
    } catch {
      throw new AuthError('AUTH_UNAVAILABLE', 'ticket store unavailable, retry later')
    }
    // "ticket" in the message and the close reason makes the platform's frontend drop its cached ticket and fetch a new one.
    if (identity === undefined) throw new AuthError('AUTH_FAILED', 'ticket expired, unknown or already used', 'TICKET_REFUSED')
    if (identity.expiresAt !== undefined && identity.expiresAt * 1000 <= clock.now()) throw new AuthError('AUTH_FAILED', 'ticket expired with its token', 'TICKET_REFUSED')
    return await notRevoked(identity)
  }

  const serviceId = secretMatcher(config.service.id)
  const serviceSecret = secretMatcher(config.service.secret)
  const adminSecret = secretMatcher(config.admin.secret)
  const auth: Auth = {
    mode: config.auth.mode,
    verify,
    async authenticate (request) {
      return await limited(request, async () => {
        const token = bearerToken(request.headers)
        if (token === undefined) throw new AuthError('AUTH_FAILED', 'send Authorization: Bearer <jwt>')
        return await verify(token)
      })
    },
    async authenticateUpgrade (request) {
      return await limited(request, async () => await upgradeIdentity(request))
    },
    isService (request) {
      const id = request.headers['x-service-id']
      const secret = request.headers['x-service-secret']
      if (typeof id !== 'string' || typeof secret !== 'string') return false
      return serviceId(id) && serviceSecret(secret)
    },
    isAdmin (request) {
      const secret = request.headers['x-admin-secret']
      return typeof secret === 'string' && adminSecret(secret)
    },
    tickets,
    revocations,
    status: () => ({ mode: config.auth.mode, ...status() })
  }
  // Kept by the remote verification (cache and breaker), read at scrape time; the other modes report none.
  app.metrics.countedBy('aeg_auth_cache_total', 'Remote token verifications by cache outcome: hit, miss (a call to the auth service), joined (single flight)', 'result', () => {
    const cache = status().cache
    return cache && { hit: cache.hits, miss: cache.misses, joined: cache.joined }
  })
  app.metrics.gauge('aeg_auth_breaker_open', 'The auth service circuit: 0 closed, 0.5 half-open, 1 open (remote mode)', () => {
    const state = status().breaker
    return state === undefined ? undefined : state === 'open' ? 1 : state === 'closed' ? 0 : 0.5
  })
  app.decorate('auth', auth)
  app.decorateRequest('identity', null)
  app.addHook('onClose', async () => { await verifier.close?.() })
}, { name: 'auth', fastify: '5.x', dependencies: ['metrics', 'backends'] })

/** A preHandler for HTTP routes that need a user: 401 AUTH_FAILED, 429 RATE_LIMITED or 503 AUTH_UNAVAILABLE otherwise. */
export async function requireUser (request: FastifyRequest): Promise<void> {
  try {
    request.identity = await request.server.auth.authenticate(request)
  } catch (err) {
    // Anything but a verdict on the token is a 5xx for the error handler, never a 401.
    if (err instanceof AuthRateLimited) throw Object.assign(new HttpErrors.RateLimited(err.message), { retryAfter: err.retryAfterS })
    if (!(err instanceof AuthError)) throw err
    if (err.code === 'AUTH_UNAVAILABLE') throw new HttpErrors.AuthUnavailable(err.message)
    throw new HttpErrors.AuthFailed(err.message)
  }
}
