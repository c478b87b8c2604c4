// Verification by the platform's auth service: POST /auth/validate answers 200 and the body decides.
import { AuthError } from '../../../errors.js'
import type { Identity, TokenVerifier } from './identity.js'

export interface RemoteOptions { serviceUrl: string, timeoutMs: number, serviceId: string, serviceSecret: string }

interface ValidateReply { valid?: unknown, user_id?: unknown, email?: unknown, permissions?: unknown, expires_at?: unknown }

/** The service writes expires_at as a naive ISO string built from `exp` in UTC. */
function epochSeconds (value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined
  const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`
  const ms = Date.parse(iso)
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined
}

export function createRemoteVerifier (opts: RemoteOptions): TokenVerifier {
  const url = `${opts.serviceUrl}/auth/validate`
  return {
    async verify (token) {
      // The platform refuses anything that is not three segments before asking the service.
      if (token.split('.').length !== 3) throw new AuthError('AUTH_FAILED', 'malformed token')
      let reply: ValidateReply
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-service-id': opts.serviceId, 'x-service-secret': opts.serviceSecret },
          body: JSON.stringify({ token, token_type: 'access' }),
          signal: AbortSignal.timeout(opts.timeoutMs)
        })
        if (res.status >= 500) throw new Error(`auth service answered ${res.status}`)
        if (res.status !== 200) throw new AuthError('AUTH_FAILED', `auth service refused the token (${res.status})`)
        reply = await res.json() as ValidateReply
      } catch (err) {
        if (err instanceof AuthError) throw err
        throw new AuthError('AUTH_UNAVAILABLE', `auth service unavailable: ${(err as Error).name === 'TimeoutError' ? 'timeout' : (err as Error).message}`)
      }
      if (reply.valid !== true || typeof reply.user_id !== 'string' || reply.user_id === '') {
        throw new AuthError('AUTH_FAILED', 'invalid or expired token')
      }
      const identity: Identity = { userId: reply.user_id, expiresAt: epochSeconds(reply.expires_at) }
      if (typeof reply.email === 'string') identity.email = reply.email
      if (Array.isArray(reply.permissions)) identity.permissions = reply.permissions.filter((p): p is string => typeof p === 'string')
      return identity
    }
  }
}
