// Where a user's token travels (Authorization header, a Sec-WebSocket-Protocol entry, ?token=) and which subprotocol to echo; read by auth, the socket server and the ws route.

/** Subprotocol prefixes that carry a token, in the order the platform checks them (contract section 2.2). */
const TOKEN_PREFIXES = ['jwt.', 'jwt-auth.', 'bearer.'] as const
/** Bare names the platform echoes when no token-bearing entry was offered (section 2.3). */
const BARE_PROTOCOLS = ['jwt-auth', 'jwt', 'bearer', 'e2e-testing', 'staging-auth', 'agent_chat'] as const
const MIN_TOKEN = 10

function isJwtShape (value: string): boolean {
  return value.split('.').length === 3
}

/** The JWT inside a subprotocol suffix: base64url of a JWT (padding optional), else a raw JWT. */
export function tokenFromSuffix (suffix: string): string | undefined {
  if (suffix.length < MIN_TOKEN) return undefined
  if (/^[A-Za-z0-9_-]+={0,2}$/.test(suffix)) {
    const decoded = Buffer.from(suffix, 'base64url').toString('utf8')
    if (isJwtShape(decoded) && /^[\x21-\x7e]+$/.test(decoded)) return decoded
  }
  return isJwtShape(suffix) ? suffix : undefined
}

export function parseProtocols (header: string | string[] | undefined): string[] {
  const raw = Array.isArray(header) ? header.join(',') : header ?? ''
  return raw.split(',').map((p) => p.trim()).filter(Boolean)
}

/** The first token-bearing entry, exactly as offered, with its token. */
export function tokenProtocol (offered: Iterable<string>): { protocol: string, token: string } | undefined {
  const list = [...offered]
  for (const prefix of TOKEN_PREFIXES) {
    for (const protocol of list) {
      if (!protocol.startsWith(prefix)) continue
      const token = tokenFromSuffix(protocol.slice(prefix.length))
      if (token) return { protocol, token }
    }
  }
  return undefined
}

/** The subprotocol to echo: the token-bearing entry, else a known bare name, else none (false). */
export function negotiateProtocol (offered: Set<string>): string | false {
  const bearing = tokenProtocol(offered)
  if (bearing) return bearing.protocol
  return BARE_PROTOCOLS.find((name) => offered.has(name)) ?? false
}

export interface TokenSource { token: string, via: 'header' | 'subprotocol' | 'query' }

type Headers = Record<string, string | string[] | undefined>

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken (headers: Headers): string | undefined {
  const auth = headers.authorization
  if (typeof auth !== 'string') return undefined
  return /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1]
}

/** Finds the caller's token: header first, then subprotocol, then query string. */
export function extractToken (headers: Headers, query: unknown): TokenSource | undefined {
  const bearer = bearerToken(headers)
  if (bearer) return { token: bearer, via: 'header' }
  const bearing = tokenProtocol(parseProtocols(headers['sec-websocket-protocol']))
  if (bearing) return { token: bearing.token, via: 'subprotocol' }
  const q = query as Record<string, unknown> | undefined
  if (typeof q?.token === 'string' && q.token.length > 0) return { token: q.token, via: 'query' }
  return undefined
}

/** The query parameters the platform's clients carry a ticket in (contract section 2.2). */
const TICKET_PARAMS = ['ticket', 'auth_ticket', 'ticket_id'] as const

export function extractTicket (query: unknown): string | undefined {
  const q = query as Record<string, unknown> | undefined
  for (const name of TICKET_PARAMS) {
    const value = q?.[name]
    if (typeof value === 'string' && value.length > 0) return value
  }
  return undefined
}
