// Expiry on live sockets: token_expiring before, auth_refresh to carry on, 1008 "token expired" without one; no timer leaks.
import t from 'tap'
import { LogCapture } from './fixtures/log-capture.js'
import { build, Client, connect, DEV_SECRET, gone, isolate, type Running, SERVICE, TestClock, token, within } from './helper.js'

const logs = new LogCapture()
logs.secret(SERVICE.secret, DEV_SECRET)
// A warning 1 s ahead, 100 ms of grace; the tests skip the gateway's frozen clock through them rather than wait (a
// clock that also moved with real time could cross a deadline 1 ms away on the wheel's own tick).
const TIMING = { TOKEN_EXPIRY_WARNING_MS: '1000', TOKEN_EXPIRY_GRACE_MS: '100' }

const expOf = (jwt: string): number => (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp

/** Skips the gateway's clock to `at` (epoch ms) and lets its expiry wheel fire whatever came due. */
async function skipTo (gw: Running, clock: TestClock, at: number): Promise<void> {
  clock.advanceTo(at)
  await gw.app.sessions.expireDue()
}

/** A ping answered: every frame the server sent before it has arrived. */
async function roundTrip (c: Client): Promise<void> {
  const pongs = (): number => c.frames.filter((f) => f.type === 'pong').length
  const before = pongs()
  c.send({ type: 'ping' })
  await c.next(() => pongs() > before)
}

t.test('without a refresh: token_expiring, then 1008 "token expired" once the grace is over', async (t) => {
  const clock = new TestClock(true)
  const gw = await build(t, isolate(t), TIMING, logs.logger, { clock })
  const first = await token('frank', { ttlS: 60 })
  const exp = expOf(first) * 1000
  const c = await connect(gw, first)
  await skipTo(gw, clock, exp - 1000 - 1)
  await roundTrip(c)
  t.notOk(c.frames.some((f) => f.type === 'token_expiring'), 'no warning before TOKEN_EXPIRY_WARNING_MS ahead')
  await skipTo(gw, clock, exp - 1000)
  const warning = await c.next('token_expiring')
  t.equal(warning.data?.expires_at, expOf(first), 'the warning names the expiry')
  await skipTo(gw, clock, exp + 100 - 1)
  await roundTrip(c)
  t.notOk(c.frames.some((f) => f.type === 'error_message'), 'not closed before the expiry plus the grace')
  await skipTo(gw, clock, exp + 100)
  const expired = await c.next('error_message')
  t.equal(expired.error_code, 'TOKEN_EXPIRED')
  const closed = await c.closed
  t.same(closed, { code: 1008, reason: 'token expired' })
  await gone(gw, 'frank')
  t.equal(gw.app.sessions.activeWatches, 0, 'its timers are gone')
})

t.test('a refresh keeps the socket open past its first token\'s expiry', async (t) => {
  const clock = new TestClock(true)
  const gw = await build(t, isolate(t), TIMING, logs.logger, { clock })
  const first = await token('grace', { ttlS: 60 })
  const c = await connect(gw, first)
  await skipTo(gw, clock, expOf(first) * 1000 - 1000)
  await c.next('token_expiring')
  const second = await token('grace', { ttlS: 3600 })
  c.send({ type: 'auth_refresh', token: second })
  const refreshed = await c.next('auth_refreshed')
  t.equal(refreshed.data?.expires_at, expOf(second), 'the socket now lives on the new token')
  await skipTo(gw, clock, expOf(first) * 1000 + 100 + 300)
  await roundTrip(c)
  t.pass('still open after the first token\'s expiry and grace')
  t.equal(c.frames.filter((f) => f.type === 'error_message').length, 0, 'and nothing went wrong')
  await c.close()
})

t.test('a refresh with another user\'s token, a bad token or no token is refused; the socket keeps its old expiry', async (t) => {
  const clock = new TestClock(true)
  const gw = await build(t, isolate(t), TIMING, logs.logger, { clock })
  const original = await token('heidi', { ttlS: 60 })
  const c = await connect(gw, original)

  c.send({ type: 'auth_refresh', token: await token('mallory', { ttlS: 60 }) })
  const other = await c.next((f) => f.type === 'error_message')
  t.equal(other.error_code, 'AUTH_REFRESH_FAILED')
  t.match(other.error_message, /another user/)

  c.send({ type: 'auth_refresh', token: await token('heidi', { secret: 'another-secret-of-at-least-32-chars!!' }) })
  const forged = await c.next((f) => f.type === 'error_message' && f !== other)
  t.equal(forged.error_code, 'AUTH_REFRESH_FAILED')

  c.send({ type: 'auth_refresh' })
  const missing = await c.next((f) => f.type === 'error_message' && f.error_code === 'INVALID_MESSAGE')
  t.match(missing.error_message, /token/)

  await skipTo(gw, clock, expOf(original) * 1000 + 100)
  t.same(await within(c.closed, 'the socket closing'), { code: 1008, reason: 'token expired' }, 'closed when the original token expired')
  t.equal(c.frames.filter((f) => f.type === 'connection_established' && f.data?.user_id !== 'heidi').length, 0)
})

t.test('a socket opened with a ticket lives until the ticket\'s token expires', async (t) => {
  const clock = new TestClock(true)
  const gw = await build(t, isolate(t), TIMING, logs.logger, { clock })
  const jwt = await token('ivan', { ttlS: 60 })
  const res = await fetch(`${gw.http}/api/websocket/ticket`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } })
  const { websocket_url: url, ticket_id: id } = await res.json() as { websocket_url: string, ticket_id: string }
  logs.secret(id)
  const c = await Client.open(url)
  await c.next('connection_established')
  await skipTo(gw, clock, expOf(jwt) * 1000 - 1000)
  await c.next('token_expiring')
  await skipTo(gw, clock, expOf(jwt) * 1000 + 100)
  t.same(await within(c.closed, 'the socket closing'), { code: 1008, reason: 'token expired' })
})

t.test('timers do not leak: every socket\'s expiry watch ends with the socket', async (t) => {
  const gw = await build(t, isolate(t), {}, logs.logger)
  const clients = await Promise.all(Array.from({ length: 20 }, async (_, i) => await connect(gw, await token(`leak-${i % 4}`))))
  t.equal(gw.app.sessions.activeWatches, 20, 'one watch per socket')
  await Promise.all(clients.map(async (c) => await c.close()))
  await Promise.all([0, 1, 2, 3].map(async (i) => await gone(gw, `leak-${i}`)))
  t.equal(gw.app.sessions.activeWatches, 0, 'none left once they closed')
})

t.test('no token, ticket or secret reached a log line of this file', async (t) => {
  t.same(logs.leaks(), [], 'no leak')
})
