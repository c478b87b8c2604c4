// The one error model: HTTP error codes (4xx/5xx with a code and a message) and WebSocket close codes.
import createError from '@fastify/error'

export const HttpErrors = {
  ValidationError: createError<[string]>('VALIDATION_ERROR', '%s', 400),
  BatchTooLarge: createError<[number, number]>('BATCH_TOO_LARGE', 'events: a batch holds at most %d events (got %d)', 400),
  ServiceAuthFailed: createError<[string]>('SERVICE_AUTH_FAILED', '%s', 401),
  AuthFailed: createError<[string]>('AUTH_FAILED', '%s', 401),
  AuthUnavailable: createError<[string]>('AUTH_UNAVAILABLE', '%s', 503),
  OriginNotAllowed: createError<[string]>('ORIGIN_NOT_ALLOWED', 'Origin %s may not open a socket here (ALLOWED_ORIGINS)', 403),
  NotFound: createError<[string]>('NOT_FOUND', '%s', 404),
  NotReady: createError<[string]>('NOT_READY', '%s', 503),
  RunConflict: createError<[string]>('RUN_CONFLICT', '%s', 409),
  EventRejected: createError<[string]>('EVENT_REJECTED', '%s', 400),
  StoreUnavailable: createError<[string]>('STORE_UNAVAILABLE', '%s', 503),
  OverCapacity: createError<[string]>('OVER_CAPACITY', '%s', 503),
  RateLimited: createError<[string]>('RATE_LIMITED', '%s', 429)
} as const

/**
 * WebSocket close codes. "reconnect" codes tell a client to come back (and resume); "terminal" ones
 * tell it not to retry as it is. The platform's frontend treats only 1008 as an auth failure.
 */
export const CloseCodes = {
  NORMAL: { code: 1000, reason: 'normal closure', reconnect: false },
  GOING_AWAY: { code: 1001, reason: 'going away', reconnect: true },
  UNSUPPORTED_PROTOCOL: { code: 1003, reason: 'No supported subprotocols', reconnect: false },
  AUTH_FAILED: { code: 1008, reason: 'Authentication failed', reconnect: false },
  // "ticket" in the reason is what makes the platform's frontend drop its cached ticket and buy a new one.
  TICKET_REFUSED: { code: 1008, reason: 'Authentication failed: ticket expired, unknown or already used', reconnect: false },
  // 1008 again: the frontend's auth-retry path fetches a fresh token or ticket, which is what both need.
  TOKEN_EXPIRED: { code: 1008, reason: 'token expired', reconnect: false },
  TOKEN_REVOKED: { code: 1008, reason: 'token revoked', reconnect: false },
  MESSAGE_TOO_BIG: { code: 1009, reason: 'message too big', reconnect: true },
  INTERNAL_ERROR: { code: 1011, reason: 'internal error', reconnect: true },
  AUTH_UNAVAILABLE: { code: 1011, reason: 'Auth service unavailable', reconnect: true },
  SERVICE_RESTART: { code: 1012, reason: 'service restart', reconnect: true },
  TRY_AGAIN_LATER: { code: 1013, reason: 'try again later', reconnect: true },
  ROTATION: { code: 1001, reason: 'rotation: reconnect and resume', reconnect: true },
  SLOW_CONSUMER: { code: 1013, reason: 'slow consumer: reconnect and resume with since', reconnect: true },
  // Not 1008: the token is fine, the user has too many sockets open; one closing frees a slot.
  TOO_MANY_CONNECTIONS: { code: 1013, reason: 'too many connections', reconnect: true }
} as const
export type CloseCode = keyof typeof CloseCodes

/** Error codes carried by `error_message` frames. */
export type WsErrorCode =
  | 'AUTH_FAILED' | 'AUTH_UNAVAILABLE' | 'AUTH_REFRESH_FAILED' | 'TOKEN_EXPIRED' | 'TOKEN_REVOKED' | 'TOO_MANY_CONNECTIONS'
  | 'JSON_PARSE_ERROR' | 'INVALID_MESSAGE' | 'UNSUPPORTED_PROTOCOL' | 'INTERNAL_ERROR' | 'RATE_LIMITED'

/**
 * Raised by the auth plugin; `code` decides between a bad token (1008) and an auth outage (1011), and `close` is the
 * socket's close code (the one of `code` unless a refusal needs its own reason, as a refused ticket does).
 */
export class AuthError extends Error {
  constructor (public readonly code: 'AUTH_FAILED' | 'AUTH_UNAVAILABLE', message: string, public readonly close: CloseCode = code) {
    super(message)
    this.name = 'AuthError'
  }
}

/** Raised before any verification when the client's address has failed too often; `retryAfterS` says when to come back. */
export class AuthRateLimited extends Error {
  constructor (public readonly retryAfterS: number) {
    super(`too many failed authentications from this address; retry in ${retryAfterS} s`)
    this.name = 'AuthRateLimited'
  }
}
