// What a verified token tells us: the user, and when the proof runs out.
export interface Identity {
  userId: string
  /** Epoch seconds at which the token expires, when known. */
  expiresAt?: number
  jti?: string
  email?: string
  permissions?: string[]
}

export interface TokenVerifier {
  verify: (token: string) => Promise<Identity>
}
