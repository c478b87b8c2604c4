// The auth plugin: one place that turns a request into a verified user (or a service), whatever the mode.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../../config.js'
import { AuthError, HttpErrors } from '../../../errors.js'
import { createDevVerifier } from './dev-verifier.js'
import type { Identity, TokenVerifier } from './identity.js'
import { createRemoteVerifier } from './remote-verifier.js'
import { extractToken } from './tokens.js'

export interface Auth {
  readonly mode: Config['auth']['mode']
  verify: (token: string) => Promise<Identity>
  /** The user behind a request's token; throws AuthError when there is none or it does not verify. */
  authenticate: (request: FastifyRequest) => Promise<Identity>
  /** Whether the request carries the agent backends' X-Service-ID / X-Service-Secret. */
  isService: (request: FastifyRequest) => boolean
}

declare module 'fastify' {
  interface FastifyInstance { auth: Auth }
  interface FastifyRequest { identity: Identity | null }
}

// Hashing first gives equal-length inputs, so the comparison takes the same time whatever the guess.
function sameSecret (given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

export default fp<{ config: Config }>(async (app, { config }) => {
  const verifier: TokenVerifier = config.auth.mode === 'dev'
    ? createDevVerifier(config.auth.secret)
    : createRemoteVerifier({ ...config.auth, serviceId: config.service.id, serviceSecret: config.service.secret })

  const auth: Auth = {
    mode: config.auth.mode,
    verify: (token) => verifier.verify(token),
    async authenticate (request) {
      const source = extractToken(request.headers, request.query)
      if (!source) throw new AuthError('AUTH_FAILED', 'no token: send Authorization: Bearer <jwt>, a subprotocol jwt.<token>, jwt-auth.<token> or bearer.<token>, or ?token=')
      return await verifier.verify(source.token)
    },
    isService (request) {
      const id = request.headers['x-service-id']
      const secret = request.headers['x-service-secret']
      if (typeof id !== 'string' || typeof secret !== 'string') return false
      return sameSecret(id, config.service.id) && sameSecret(secret, config.service.secret)
    }
  }
  app.decorate('auth', auth)
  app.decorateRequest('identity', null)
}, { name: 'auth', fastify: '5.x' })

/** A preHandler for HTTP routes that need a user: 401 AUTH_FAILED or 503 AUTH_UNAVAILABLE otherwise. */
export async function requireUser (this: { auth: Auth }, request: FastifyRequest): Promise<void> {
  try {
    request.identity = await request.server.auth.authenticate(request)
  } catch (err) {
    if (err instanceof AuthError && err.code === 'AUTH_UNAVAILABLE') throw new HttpErrors.AuthUnavailable(err.message)
    throw new HttpErrors.AuthFailed(err instanceof AuthError ? err.message : 'authentication failed')
  }
}
