// Verification by the platform's auth service: POST /auth/validate answers 200 and the body decides.
import { decodeJwt } from 'jose'
import { Agent } from 'undici'
import { AuthError } from '../../../errors.js'
import { checkedIdentity, type Identity, type TokenVerifier } from './identity.js'

export interface RemoteOptions {
  serviceUrl: string
  connectTimeoutMs: number
  readTimeoutMs: number
  serviceId: string
  serviceSecret: string
  /** Also ask POST /auth/check-blacklist (in parallel, so it costs no extra latency). */
  blacklistCheck: boolean
}

type Reply = Record<string, unknown>

// These answers are 200 with valid:false, but they say the gateway's own credentials are wrong: an outage to
// fix on our side, not a bad user token. Answering 1008 would log every user out.
const SERVICE_ERRORS: ReadonlySet<string> = new Set(['service_not_configured', 'invalid_service_id', 'invalid_service_secret'])
// Enough parallel calls for a reconnect storm of distinct tokens; single flight already merges equal ones.
const MAX_CONNECTIONS = 128

/** The service writes expires_at as a naive ISO string built from `exp` in UTC. */
export function epochSeconds (value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`
  const ms = Date.parse(iso)
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined
}

function unavailable (why: string): AuthError {
  return new AuthError('AUTH_UNAVAILABLE', `auth service unavailable: ${why}`)
}

/** undici's own error codes say which timeout fired; the message never carries the request body. */
function describe (err: unknown): string {
  const code = (err as { code?: unknown }).code
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect timeout'
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'read timeout'
  if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError') return 'timeout'
  return typeof code === 'string' ? code : (err as Error).message
}

export function createRemoteVerifier (opts: RemoteOptions): TokenVerifier {
  const base = new URL(opts.serviceUrl)
  const prefix = base.pathname.replace(/\/+$/, '')
  // An undici Agent rather than fetch + one AbortSignal: it has its own connect timeout, so a dead host fails
  // after 0.8 s however long the read timeout is, as with the platform's httpx client. undici checks its
  // headers/body timeouts on a coarse (about 1 s) clock, so the AbortSignal is what holds a call to
  // connect + read in all: a slow or hanging service, or a wait for a free connection, never takes longer.
  const agent = new Agent({
    connect: { timeout: opts.connectTimeoutMs },
    headersTimeout: opts.readTimeoutMs,
    bodyTimeout: opts.readTimeoutMs,
    connections: MAX_CONNECTIONS
  })
  const headers = { 'content-type': 'application/json', 'x-service-id': opts.serviceId, 'x-service-secret': opts.serviceSecret }

  async function post (path: string, payload: unknown): Promise<Reply> {
    try {
      const res = await agent.request({
        origin: base.origin,
        path: `${prefix}${path}`,
        method: 'POST',
        headers,
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(opts.connectTimeoutMs + opts.readTimeoutMs)
      })
      if (res.statusCode !== 200) {
        await res.body.dump()
        throw unavailable(`${path} answered ${res.statusCode}`)
      }
      const reply = await res.body.json()
      if (reply === null || typeof reply !== 'object') throw unavailable(`${path} answered no object`)
      return reply as Reply
    } catch (err) {
      throw err instanceof AuthError ? err : unavailable(describe(err))
    }
  }

  return {
    async verify (token) {
      // The platform refuses anything that is not three segments before asking the service.
      if (token.split('.').length !== 3) throw new AuthError('AUTH_FAILED', 'malformed token')
      const [reply, blacklist] = await Promise.all([
        post('/auth/validate', { token, token_type: 'access' }),
        opts.blacklistCheck ? post('/auth/check-blacklist', { token }) : undefined
      ])
      if (typeof reply.error === 'string' && SERVICE_ERRORS.has(reply.error)) {
        throw unavailable(`it refused the gateway's service credentials (${reply.error})`)
      }
      if (reply.valid !== true || typeof reply.user_id !== 'string' || reply.user_id === '') {
        throw new AuthError('AUTH_FAILED', 'invalid or expired token')
      }
      if (blacklist?.blacklisted === true) throw new AuthError('AUTH_FAILED', 'token revoked')

      // The service vouched for the token, so its claims can be read without checking the signature again:
      // they give the jti and iat that revocation needs, and exp when the answer has none.
      let claims: ReturnType<typeof decodeJwt> = {}
      try { claims = decodeJwt(token) } catch { /* the service accepted it; keep what the answer says */ }
      const identity: Identity = {
        userId: reply.user_id,
        expiresAt: epochSeconds(reply.expires_at) ?? claims.exp,
        issuedAt: claims.iat,
        jti: claims.jti
      }
      if (typeof reply.email === 'string') identity.email = reply.email
      if (Array.isArray(reply.permissions)) identity.permissions = reply.permissions.filter((p): p is string => typeof p === 'string')
      return Object.freeze(checkedIdentity(identity))
    },
    close: () => agent.close()
  }
}
