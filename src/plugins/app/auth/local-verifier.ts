// Local JWT verification (dev and jwt modes): HS256 with a shared secret, RS256/ES256/EdDSA from a JWKS URL.
import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose'
import { systemClock, type Clock } from '../../../clock.js'
import type { LocalJwtConfig } from '../../../config.js'
import { AuthError } from '../../../errors.js'
import { checkedIdentity, type Identity, type TokenVerifier } from './identity.js'

export const PLATFORM_ISSUER = 'netra-auth-service'
export const PLATFORM_AUDIENCE = 'netra-platform'
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256', 'EdDSA']
// The platform's auth service refuses tokens issued more than 24 h ago, whatever their exp says.
export const MAX_TOKEN_AGE_S = 24 * 3600
const MAX_TOKEN_AGE = `${MAX_TOKEN_AGE_S}s`

export type LocalOptions = Pick<LocalJwtConfig, 'secret' | 'jwksUrl' | 'issuer' | 'audience' | 'clockSkewS'> &
  Partial<Pick<LocalJwtConfig, 'jwksCooldownMs' | 'jwksCacheMaxAgeMs' | 'jwksTimeoutMs'>>

/** The identity carried by verified claims: only access tokens with a string sub are users. */
export function identityFromClaims (payload: JWTPayload): Identity {
  if (payload.token_type !== 'access') throw new AuthError('AUTH_FAILED', 'token is not an access token')
  if (typeof payload.sub !== 'string' || payload.sub === '') throw new AuthError('AUTH_FAILED', 'token has no subject')
  const identity: Identity = { userId: payload.sub, expiresAt: payload.exp, issuedAt: payload.iat, jti: payload.jti }
  if (typeof payload.email === 'string') identity.email = payload.email
  if (Array.isArray(payload.permissions)) identity.permissions = payload.permissions.filter((p): p is string => typeof p === 'string')
  return Object.freeze(checkedIdentity(identity))
}

/** A JWKS that cannot be fetched is an outage (1011); a token that does not verify is the user's problem (1008). */
function toAuthError (err: unknown): AuthError {
  if (err instanceof AuthError) return err
  if (err instanceof joseErrors.JWTExpired) return new AuthError('AUTH_FAILED', 'token expired')
  const fetchFailed = !(err instanceof joseErrors.JOSEError) || err instanceof joseErrors.JWKSTimeout ||
    err instanceof joseErrors.JWKSInvalid || err.code === 'ERR_JOSE_GENERIC'
  if (fetchFailed) return new AuthError('AUTH_UNAVAILABLE', 'signing keys unavailable')
  return new AuthError('AUTH_FAILED', 'invalid token')
}

export function createLocalVerifier (opts: LocalOptions, clock: Clock = systemClock): TokenVerifier {
  // Imported once: given raw bytes, jose would import the key again for every token (a WebCrypto job each time).
  const hmac = opts.secret
    ? crypto.subtle.importKey('raw', new TextEncoder().encode(opts.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
    : undefined
  // jose caches the key set, refetches it when a token names an unknown kid (key rotation), at most once per cooldown.
  const jwks = opts.jwksUrl
    ? createRemoteJWKSet(new URL(opts.jwksUrl), { cooldownDuration: opts.jwksCooldownMs, cacheMaxAge: opts.jwksCacheMaxAgeMs, timeoutDuration: opts.jwksTimeoutMs })
    : undefined
  const common: JWTVerifyOptions = {
    issuer: opts.issuer,
    audience: opts.audience,
    clockTolerance: opts.clockSkewS,
    maxTokenAge: MAX_TOKEN_AGE,
    requiredClaims: ['sub', 'iat', 'exp', 'jti']
  }

  return {
    async verify (token) {
      let alg: string | undefined
      try {
        alg = decodeProtectedHeader(token).alg
      } catch {
        throw new AuthError('AUTH_FAILED', 'malformed token')
      }
      try {
        // The key is chosen by the algorithm family and each key only accepts its own family, so an HS256 token
        // "signed" with the RSA public key never meets that key, and `none` matches no key at all.
        if (alg === 'HS256' && hmac) {
          return identityFromClaims((await jwtVerify(token, await hmac, { ...common, currentDate: new Date(clock.now()), algorithms: ['HS256'] })).payload)
        }
        if (alg !== undefined && ASYMMETRIC_ALGORITHMS.includes(alg) && jwks) {
          return identityFromClaims((await jwtVerify(token, jwks, { ...common, currentDate: new Date(clock.now()), algorithms: ASYMMETRIC_ALGORITHMS })).payload)
        }
      } catch (err) {
        throw toAuthError(err)
      }
      throw new AuthError('AUTH_FAILED', `tokens signed with ${String(alg).slice(0, 16)} are not accepted`)
    }
  }
}
