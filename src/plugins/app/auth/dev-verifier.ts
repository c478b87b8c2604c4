// Local HS256 tokens shaped like the platform's access tokens: the dev mode, and `npm run token`.
import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import type { Clock } from '../../../clock.js'
import type { TokenVerifier } from './identity.js'
import { createLocalVerifier, PLATFORM_AUDIENCE, PLATFORM_ISSUER } from './local-verifier.js'

export { PLATFORM_AUDIENCE, PLATFORM_ISSUER }

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

/** The dev mode is the jwt mode with the embedded secret and the platform's issuer and audience. */
export function createDevVerifier (secret: string, clockSkewS = 30, clock?: Clock): TokenVerifier {
  return createLocalVerifier({ secret, issuer: PLATFORM_ISSUER, audience: PLATFORM_AUDIENCE, clockSkewS }, clock)
}
