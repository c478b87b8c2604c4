// WebSocket tickets: bought with a Bearer token, stored in Redis under the prefix, consumed once, expiring with their token.
import t, { type Test } from 'tap'
import { LogCapture } from './fixtures/log-capture.js'
import { build, Client, DEV_SECRET, isolate, redis, type Running, SERVICE, TestClock, token } from './helper.js'

const logs = new LogCapture()
logs.secret(SERVICE.secret, DEV_SECRET)

interface TicketReply { ticket_id: string, expires_at: number, created_at: number, ttl_seconds: number, single_use: boolean, websocket_url: string }

async function buy (gw: Running, jwt: string | undefined, body?: unknown): Promise<{ status: number, body: Record<string, unknown> }> {
  const headers: Record<string, string> = {}
  if (jwt !== undefined) headers.authorization = `Bearer ${jwt}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${gw.http}/api/websocket/ticket`, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const json = await res.json() as Record<string, unknown>
  if (typeof json.ticket_id === 'string') logs.secret(json.ticket_id)
  return { status: res.status, body: json }
}

/**
 * A ticket that must be refused as the platform's frontend needs it: AUTH_FAILED naming the ticket, then 1008 with a
 * close reason that contains "ticket" (the frontend drops its cached ticket only then, and buys a new one).
 */
async function ticketRefused (t: Test, url: string, why: string): Promise<void> {
  const c = await Client.open(url)
  const frame = await c.next('error_message')
  const closed = await c.closed
  t.match(frame, { error_code: 'AUTH_FAILED', error_message: /ticket/, payload: { error_message: /ticket/ } }, `${why}: the frame names the ticket`)
  t.equal(closed.code, 1008, `${why}: 1008`)
  t.match(closed.reason, /ticket/, `${why}: the close reason contains "ticket" (${closed.reason})`)
}

t.test('a ticket is issued in the platform\'s shape, stored under the prefix, and consumed once', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, {}, logs.logger)
  const r = redis(t)
  const res = await buy(gw, await token('alice'), {})
  t.equal(res.status, 200)
  const ticket = res.body as unknown as TicketReply
  t.match(ticket.ticket_id, /^[A-Za-z0-9_-]{43}$/, '32 random bytes in base64url')
  t.equal(ticket.ttl_seconds, 300, 'default TTL')
  t.equal(ticket.single_use, true)
  t.ok(Math.abs(ticket.expires_at - ticket.created_at - 300) < 0.01, 'expires_at = created_at + ttl (epoch seconds)')
  t.equal(ticket.websocket_url, `${gw.ws}/ws?ticket=${ticket.ticket_id}`)

  const key = `${iso.prefix}auth:ticket:${ticket.ticket_id}`
  const pttl = await r.pttl(key)
  t.ok(pttl > 295_000 && pttl <= 300_000, `stored under ${iso.prefix}auth:ticket:<id> with its TTL (${pttl} ms)`)
  t.notOk((await r.get(key))?.includes(DEV_SECRET), 'the stored value holds the identity, not the token')

  const c = await Client.open(ticket.websocket_url)
  t.equal(c.socket.protocol, '', 'no subprotocol needed')
  t.equal((await c.next('connection_established')).data?.user_id, 'alice', 'the ticket stands for its buyer')
  t.equal(await r.exists(key), 0, 'consumed: the key is gone')
  await ticketRefused(t, ticket.websocket_url, 'a used ticket')
  await ticketRefused(t, `${gw.ws}/ws?ticket=${'B'.repeat(43)}`, 'an unknown ticket')
  // Expired in Redis: the TTL's end, brought forward.
  const { ticket_id: lapsed } = (await buy(gw, await token('alice'))).body as unknown as TicketReply
  await r.pexpireat(`${iso.prefix}auth:ticket:${lapsed}`, 1)
  await ticketRefused(t, `${gw.ws}/ws?ticket=${lapsed}`, 'an expired ticket')
  await c.close()
})

t.test('a ticket bought on one instance is consumed on another, and only once when two sockets race for it', async (t) => {
  const iso = isolate(t)
  const one = await build(t, iso, {}, logs.logger)
  const two = await build(t, iso, {}, logs.logger)
  const { ticket_id: id } = (await buy(one, await token('bob'))).body as unknown as TicketReply
  const c = await Client.open(`${two.ws}/ws?ticket=${id}`)
  t.equal((await c.next('connection_established')).data?.user_id, 'bob')
  await c.close()

  const { ticket_id: raced } = (await buy(one, await token('bob'))).body as unknown as TicketReply
  const clients = await Promise.all([one, two, one, two].map(async (gw) => await Client.open(`${gw.ws}/ws?ticket=${raced}`)))
  const first = await Promise.all(clients.map(async (x) => (await x.next((f) => f.type === 'connection_established' || f.type === 'error_message')).type))
  t.same(first.filter((type) => type === 'connection_established').length, 1, 'one of four racing sockets got in')
  await Promise.all(clients.map(async (x) => await x.close()))
})

t.test('the ticket request is validated and needs a Bearer token', async (t) => {
  const gw = await build(t, isolate(t), {}, logs.logger)
  const jwt = await token('carol')
  const cases: Array<[unknown, RegExp]> = [
    [{ ttl_seconds: 10 }, /ttl_seconds must be >= 30/],
    [{ ttl_seconds: 4000 }, /ttl_seconds must be <= 3600/],
    [{ ttl_seconds: 'soon' }, /ttl_seconds must be integer/],
    [{ single_use: false }, /single_use/]
  ]
  for (const [body, message] of cases) {
    const res = await buy(gw, jwt, body)
    t.equal(res.status, 400, `${JSON.stringify(body)} is refused`)
    t.equal(res.body.code, 'VALIDATION_ERROR')
    t.match(res.body.message, message, 'the message names the field')
  }
  const noBody = await buy(gw, jwt)
  t.equal(noBody.status, 200, 'no body at all means the defaults')
  t.equal(noBody.body.ttl_seconds, 300)
  t.equal((await buy(gw, jwt, { ttl_seconds: 30, metadata: { page: 'chat' }, permissions: ['read'] })).body.ttl_seconds, 30, 'the platform\'s extra fields are accepted')

  const anonymous = await buy(gw, undefined)
  t.equal(anonymous.status, 401)
  t.equal(anonymous.body.code, 'AUTH_FAILED')
  const viaQuery = await fetch(`${gw.http}/api/websocket/ticket?token=${jwt}`, { method: 'POST' })
  t.equal(viaQuery.status, 401, 'a token in the query string does not buy a ticket')
  const forged = await buy(gw, await token('carol', { secret: 'another-secret-of-at-least-32-chars!!' }))
  t.equal(forged.status, 401)
})

t.test('a ticket expires: with its TTL in Redis, and never after the token it was bought with', async (t) => {
  const iso = isolate(t)
  const clock = new TestClock()
  const gw = await build(t, iso, {}, logs.logger, { clock })
  const r = redis(t)
  const short = (await buy(gw, await token('dave'), { ttl_seconds: 30 })).body as unknown as TicketReply
  t.ok(await r.pttl(`${iso.prefix}auth:ticket:${short.ticket_id}`) <= 30_000, 'a 30 s ticket lives 30 s in Redis')

  const brief = await token('dave', { ttlS: 2 })
  const bounded = (await buy(gw, brief, { ttl_seconds: 300 })).body as unknown as TicketReply
  t.ok(bounded.ttl_seconds <= 2, `bounded by the token: ${bounded.ttl_seconds} s`)
  t.ok(await r.pttl(`${iso.prefix}auth:ticket:${bounded.ticket_id}`) <= bounded.ttl_seconds * 1000, 'and it lives no longer in Redis')
  // The token's expiry is what is tested: the gateway's clock skips to it while Redis still holds the ticket, so
  // the refusal is the gateway's own check, not the key's TTL.
  const { exp } = JSON.parse(Buffer.from(brief.split('.')[1]!, 'base64url').toString()) as { exp: number }
  clock.advanceTo(exp * 1000)
  await ticketRefused(t, bounded.websocket_url, 'a ticket that outlived its token')
})

t.test('the embedded mode keeps tickets in memory behind the same interface', async (t) => {
  const gw = await build(t, null, {}, logs.logger)
  t.equal(gw.app.auth.tickets.kind, 'memory')
  const ticket = (await buy(gw, await token('erin'))).body as unknown as TicketReply
  const c = await Client.open(ticket.websocket_url)
  t.equal((await c.next('connection_established')).data?.user_id, 'erin')
  await ticketRefused(t, ticket.websocket_url, 'a used ticket (memory)')
  await ticketRefused(t, `${gw.ws}/ws?ticket=${'A'.repeat(43)}`, 'an unknown ticket (memory)')
  await c.close()
})

t.test('browsers on an allowed origin may buy a ticket cross-origin (CORS); other origins may not', async (t) => {
  const gw = await build(t, isolate(t), { ALLOWED_ORIGINS: 'https://app.example.com' }, logs.logger)
  const preflight = async (origin: string): Promise<Response> => await fetch(`${gw.http}/api/websocket/ticket`, {
    method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' }
  })
  const allowed = await preflight('https://app.example.com')
  t.equal(allowed.status, 204)
  t.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example.com')
  t.match(allowed.headers.get('access-control-allow-headers'), /authorization/)
  t.equal((await preflight('https://evil.example.com')).headers.get('access-control-allow-origin'), null, 'no CORS grant for another origin')

  const res = await fetch(`${gw.http}/api/websocket/ticket`, { method: 'POST', headers: { origin: 'https://app.example.com', authorization: `Bearer ${await token('fay')}` } })
  t.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com')
  logs.secret(((await res.json()) as TicketReply).ticket_id)
  const refused = await fetch(`${gw.http}/api/websocket/ticket`, { method: 'POST', headers: { origin: 'https://app.example.com' } })
  t.equal(refused.status, 401)
  t.equal(refused.headers.get('access-control-allow-origin'), 'https://app.example.com', 'errors carry the grant too, so the page can read them')
})

t.test('no token, ticket or secret reached a log line of this file', async (t) => {
  t.ok(logs.lines.some((l) => l.includes('ticket=[REDACTED]')), 'ticket query strings were logged, redacted')
  t.same(logs.leaks(), [], 'no leak')
})
