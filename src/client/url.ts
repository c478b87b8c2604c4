// Connection URLs and credentials: the token as a `jwt.<base64url>` subprotocol, or a ticket in the query.

/** The stream position a socket resumes from. */
export interface Position {
  seq: number
  epoch: string
}

/**
 * The WebSocket URL of a gateway from what the caller gave: a ws(s) URL is used as is; an http(s) URL or a bare
 * origin gets the ws(s) scheme and, when it has no path, `/ws`.
 */
export function socketUrl (base: string): URL {
  const url = new URL(base)
  if (url.protocol === 'http:') url.protocol = 'ws:'
  else if (url.protocol === 'https:') url.protocol = 'wss:'
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new TypeError(`not a gateway URL: ${base}`)
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/ws'
  return url
}

/** The URL of one attempt: the resume position, and a ticket when auth is by ticket. */
export function attemptUrl (base: URL, opts: { position?: Position, ticket?: string }): string {
  const url = new URL(base.href)
  if (opts.position) {
    url.searchParams.set('since', String(opts.position.seq))
    url.searchParams.set('epoch', opts.position.epoch)
  }
  if (opts.ticket !== undefined) url.searchParams.set('ticket', opts.ticket)
  return url.href
}

/**
 * The subprotocol that carries a token. A browser cannot set headers on a WebSocket, and a query string ends up in
 * access logs, so the token rides in Sec-WebSocket-Protocol. base64url without padding because a subprotocol must be
 * an HTTP token: `=` is not allowed there.
 */
export function tokenProtocol (token: string): string {
  return `jwt.${base64url(token)}`
}

export function base64url (text: string): string {
  const bytes = new TextEncoder().encode(text)
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** What one attempt presents: a fresh single-use ticket when there is a provider, else the token as a subprotocol. */
export async function attemptCredentials (ticket: ((token: string | undefined) => Promise<string>) | undefined, token: string | undefined): Promise<{ protocols: string[], ticket?: string }> {
  if (ticket) return { protocols: [], ticket: await ticket(token) }
  return { protocols: [tokenProtocol(token!)] }
}

/** Whether an event at `at` was already delivered from `pos`: the server sends each offset once per socket, so overlaps come from replays across sockets. */
export function delivered (pos: Position | undefined, at: Position): boolean {
  return pos !== undefined && at.epoch === pos.epoch && at.seq <= pos.seq
}
