// Ticket auth: trade a Bearer token for a short, single-use ticket (POST /api/websocket/ticket), then connect with it.

export interface TicketReply {
  ticket_id: string
  websocket_url?: string
  expires_at?: number
  ttl_seconds?: number
}

/**
 * Buys one ticket from the gateway at `httpBase` (its http(s) origin). Use it as the client's ticket provider:
 * `ticket: (token) => fetchTicket('https://gw.example', token!)`. A ticket is single-use, so the client asks for a
 * new one before every connection attempt.
 */
export async function fetchTicket (httpBase: string, token: string, opts: { ttlSeconds?: number, fetch?: typeof fetch } = {}): Promise<string> {
  const doFetch = opts.fetch ?? globalThis.fetch
  const url = new URL('/api/websocket/ticket', httpBase)
  const res = await doFetch(url.href, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(opts.ttlSeconds === undefined ? {} : { ttl_seconds: opts.ttlSeconds })
  })
  if (!res.ok) throw new TicketError(res.status, `ticket refused: HTTP ${res.status}`)
  const reply = await res.json() as TicketReply
  if (typeof reply.ticket_id !== 'string' || reply.ticket_id === '') throw new TicketError(res.status, 'ticket reply has no ticket_id')
  return reply.ticket_id
}

/** A refused ticket; `status` 401 means the token itself was refused (refresh it). */
export class TicketError extends Error {
  constructor (readonly status: number, message: string) {
    super(message)
    this.name = 'TicketError'
  }
}
