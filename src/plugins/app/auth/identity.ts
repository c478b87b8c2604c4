// What a verified token tells us: the user, and when the proof runs out.
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
