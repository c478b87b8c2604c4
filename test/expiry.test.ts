// Expiry on live sockets: token_expiring before, auth_refresh to carry on, 1008 "token expired" without one; no timer leaks.
import { setTimeout as delay } from 'node:timers/promises'
import t from 'tap'
import { LogCapture } from './fixtures/log-capture.js'
import { build, Client, connect, DEV_SECRET, isolate, SERVICE, token } from './helper.js'

const logs = new LogCapture()
logs.secret(SERVICE.secret, DEV_SECRET)
// Short times, because time is what these tests are about: a warning 1 s ahead, 100 ms of grace.
const TIMING = { TOKEN_EXPIRY_WARNING_MS: '1000', TOKEN_EXPIRY_GRACE_MS: '100' }

const expOf = (jwt: string): number => (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp

t.test('without a refresh: token_expiring, then 1008 "token expired" once the grace is over', async (t) => {
  const gw = await build(t, isolate(t), TIMING, logs.logger)
  const first = await token('frank', { ttlS: 2 })
  const c = await connect(gw, first)
  const warning = await c.next('token_expiring', 3000)
  t.equal(warning.data?.expires_at, expOf(first), 'the warning names the expiry')
  const expired = await c.next('error_message', 3000)
  t.equal(expired.error_code, 'TOKEN_EXPIRED')
  const closed = await c.closed
  t.same(closed, { code: 1008, reason: 'token expired' })
  t.ok(Date.now() >= expOf(first) * 1000 + 100, 'not before the expiry plus the grace')
  await gw.app.registry.whenGone('frank')
  t.equal(gw.app.sessions.activeWatches, 0, 'its timers are gone')
})

t.test('a refresh keeps the socket open past its first token\'s expiry', async (t) => {
  const gw = await build(t, isolate(t), TIMING, logs.logger)
  const first = await token('grace', { ttlS: 2 })
  const c = await connect(gw, first)
  await c.next('token_expiring', 3000)
  const second = await token('grace', { ttlS: 60 })
  c.send({ type: 'auth_refresh', token: second })
  const refreshed = await c.next('auth_refreshed')
  t.equal(refreshed.data?.expires_at, expOf(second), 'the socket now lives on the new token')
  await delay(expOf(first) * 1000 + 100 - Date.now() + 300)
  c.send({ type: 'ping' })
  await c.next('pong')
  t.pass('still open after the first token\'s expiry and grace')
  t.equal(c.frames.filter((f) => f.type === 'error_message').length, 0, 'and nothing went wrong')
  await c.close()
})

t.test('a refresh with another user\'s token, a bad token or no token is refused; the socket keeps its old expiry', async (t) => {
  const gw = await build(t, isolate(t), TIMING, logs.logger)
  const c = await connect(gw, await token('heidi', { ttlS: 2 }))

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

  t.same(await c.closed, { code: 1008, reason: 'token expired' }, 'closed when the original token expired')
  t.equal(c.frames.filter((f) => f.type === 'connection_established' && f.data?.user_id !== 'heidi').length, 0)
})

t.test('a socket opened with a ticket lives until the ticket\'s token expires', async (t) => {
  const gw = await build(t, isolate(t), TIMING, logs.logger)
  const res = await fetch(`${gw.http}/api/websocket/ticket`, { method: 'POST', headers: { authorization: `Bearer ${await token('ivan', { ttlS: 2 })}` } })
  const { websocket_url: url, ticket_id: id } = await res.json() as { websocket_url: string, ticket_id: string }
  logs.secret(id)
  const c = await Client.open(url)
  await c.next('connection_established')
  await c.next('token_expiring', 3000)
  t.same(await c.closed, { code: 1008, reason: 'token expired' })
})

t.test('timers do not leak: every socket\'s expiry watch ends with the socket', async (t) => {
  const gw = await build(t, isolate(t), {}, logs.logger)
  const clients = await Promise.all(Array.from({ length: 20 }, async (_, i) => await connect(gw, await token(`leak-${i % 4}`))))
  t.equal(gw.app.sessions.activeWatches, 20, 'one watch per socket')
  await Promise.all(clients.map(async (c) => await c.close()))
  await Promise.all([0, 1, 2, 3].map(async (i) => await gw.app.registry.whenGone(`leak-${i}`)))
  t.equal(gw.app.sessions.activeWatches, 0, 'none left once they closed')
})

t.test('no token, ticket or secret reached a log line of this file', async (t) => {
  t.same(logs.leaks(), [], 'no leak')
})
