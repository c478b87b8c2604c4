// Local HS256 tokens shaped like the platform's access tokens: the dev mode, and `npm run token`.
import { randomUUID } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { AuthError } from '../../../errors.js'
import type { Identity, TokenVerifier } from './identity.js'

export const PLATFORM_ISSUER = 'netra-auth-service'
export const PLATFORM_AUDIENCE = 'netra-platform'
const CLOCK_SKEW_S = 30

export async function signDevToken (secret: string, userId: string, opts: { ttlS?: number, tokenType?: string, now?: number } = {}): Promise<string> {
  const now = opts.now ?? Math.floor(Date.now() / 1000)
  return await new SignJWT({ token_type: opts.tokenType ?? 'access', type: opts.tokenType ?? 'access' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(PLATFORM_ISSUER)
    .setAudience(PLATFORM_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.ttlS ?? 3600))
    .setJti(randomUUID())
    .sign(new TextEncoder().encode(secret))
}

export function createDevVerifier (secret: string): TokenVerifier {
  const key = new TextEncoder().encode(secret)
  return {
    async verify (token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: PLATFORM_ISSUER,
          audience: PLATFORM_AUDIENCE,
          clockTolerance: CLOCK_SKEW_S,
          requiredClaims: ['sub', 'iat', 'exp', 'jti']
        })
        if (payload.token_type !== 'access') throw new AuthError('AUTH_FAILED', 'token is not an access token')
        const identity: Identity = { userId: payload.sub as string, expiresAt: payload.exp, jti: payload.jti }
        return identity
      } catch (err) {
        if (err instanceof AuthError) throw err
        const reason = err instanceof joseErrors.JWTExpired ? 'token expired' : 'invalid token'
        throw new AuthError('AUTH_FAILED', reason)
      }
    }
  }
}
