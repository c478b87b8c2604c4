// Local JWT verification (dev and jwt modes): HS256 with a shared secret, RS256/ES256/EdDSA from a JWKS URL.
import { createVerifier, TokenError } from 'fast-jwt'
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

/** fast-jwt's refusals that say more than "invalid token" to the client. */
const TOKEN_ERRORS: Partial<Record<string, string>> = {
  [TokenError.codes.expired]: 'token expired',
  [TokenError.codes.malformed]: 'malformed token',
  [TokenError.codes.invalidAlgorithm]: 'tokens signed with this algorithm are not accepted'
}

/** A JWKS that cannot be fetched is an outage (1011); a token that does not verify is the user's problem (1008). */
function toAuthError (err: unknown): AuthError {
  if (err instanceof AuthError) return err
  if (err instanceof joseErrors.JWTExpired) return new AuthError('AUTH_FAILED', 'token expired')
  if (err instanceof TokenError) return new AuthError('AUTH_FAILED', TOKEN_ERRORS[err.code] ?? 'invalid token')
  const fetchFailed = !(err instanceof joseErrors.JOSEError) || err instanceof joseErrors.JWKSTimeout ||
    err instanceof joseErrors.JWKSInvalid || err.code === 'ERR_JOSE_GENERIC'
  if (fetchFailed) return new AuthError('AUTH_UNAVAILABLE', 'signing keys unavailable')
  return new AuthError('AUTH_FAILED', 'invalid token')
}

/**
 * HS256 through fast-jwt (the verifier behind @fastify/jwt): node:crypto's HMAC on the calling thread, about 12 µs
 * a token. jose verifies through WebCrypto, a thread-pool job per token: 25–100 µs on a quiet machine and a sixth
 * of the busy time of 10,000 sockets connecting on two cores. Signature, algorithm, issuer, audience and required
 * claims are fast-jwt's checks; the time claims are checked here against the injected clock, with the same rules
 * (exp and nbf within the tolerance, iat at most MAX_TOKEN_AGE_S old), plus the one fast-jwt lacks: an iat in the
 * future, which a user-wide revocation, compared against iat, would not catch. fast-jwt reads its own time only
 * from an option fixed when a verifier is made, and a verifier made per token (a key object, a decoder, its
 * validators) cost more than the HMAC.
 */
function hs256Verifier (secret: string, opts: LocalOptions, clock: Clock): (token: string) => JWTPayload {
  const toleranceMs = opts.clockSkewS * 1000
  const verifier = createVerifier({
    key: secret,
    algorithms: ['HS256'],
    allowedIss: opts.issuer,
    allowedAud: opts.audience,
    ignoreExpiration: true,
    ignoreNotBefore: true,
    requiredClaims: ['sub', 'iat', 'exp', 'jti']
  })
  const at = (claim: unknown): number => {
    if (typeof claim !== 'number' || !Number.isFinite(claim)) throw new AuthError('AUTH_FAILED', 'invalid token')
    return claim * 1000
  }
  return (token) => {
    const payload = verifier(token) as JWTPayload
    const now = clock.now()
    const issued = at(payload.iat)
    if (now > at(payload.exp) + toleranceMs || now > issued + MAX_TOKEN_AGE_S * 1000) throw new AuthError('AUTH_FAILED', 'token expired')
    if (issued > now + toleranceMs) throw new AuthError('AUTH_FAILED', 'invalid token')
    if (payload.nbf !== undefined && now < at(payload.nbf) - toleranceMs) throw new AuthError('AUTH_FAILED', 'invalid token')
    return payload
  }
}

export function createLocalVerifier (opts: LocalOptions, clock: Clock = systemClock): TokenVerifier {
  const hs256 = opts.secret ? hs256Verifier(opts.secret, opts, clock) : undefined
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
      // HS256 alone (no key set): fast-jwt reads the header itself and refuses every other algorithm, so the
      // header is not decoded twice (jose's decode was about 2 % of a connect).
      let alg: string | undefined = 'HS256'
      if (jwks) {
        try {
          alg = decodeProtectedHeader(token).alg
        } catch {
          throw new AuthError('AUTH_FAILED', 'malformed token')
        }
      }
      try {
        // The key is chosen by the algorithm family and each key only accepts its own family, so an HS256 token
        // "signed" with the RSA public key never meets that key, and `none` matches no key at all.
        if (alg === 'HS256' && hs256) return identityFromClaims(hs256(token))
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
