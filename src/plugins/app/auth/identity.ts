// What a verified token tells us: the user, and when the proof runs out.
import { idProblem } from '../../../context/ids.js'
import { AuthError } from '../../../errors.js'

export interface Identity {
  userId: string
  /** Epoch seconds at which the token expires, when known. */
  expiresAt?: number
  /** Epoch seconds at which the token was issued; a user-wide revocation refuses tokens issued before it. */
  issuedAt?: number
  /** The token's id; a revocation can name it. */
  jti?: string
  email?: string
  permissions?: string[]
}

export interface TokenVerifier {
  verify: (token: string) => Promise<Identity>
  /** Releases connections and timers; optional for verifiers that hold none. */
  close?: () => Promise<void>
}

/**
 * The subject names the user's channel, keys and rows, so it must meet the id rule; so must a jti, which names a
 * revocation key. A token that does not is refused as a bad token (AUTH_FAILED, 1008), never retried.
 */
export function checkedIdentity (identity: Identity): Identity {
  const subject = idProblem(identity.userId)
  if (subject) throw new AuthError('AUTH_FAILED', `token subject ${subject}`)
  if (identity.jti !== undefined) {
    const jti = idProblem(identity.jti)
    if (jti) throw new AuthError('AUTH_FAILED', `token jti ${jti}`)
  }
  return identity
}
