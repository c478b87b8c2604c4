// Abuse limits: refusals cached, per-address limits with 429 and Retry-After, bounded auth calls, one log line a window.
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { startAuthService } from './fixtures/auth-service.js'
import { LogCapture } from './fixtures/log-capture.js'
import { mint } from './fixtures/tokens.js'
import { AUTH_SERVICE, bearer, build, connect, expectRefused, isolate, token } from './helper.js'

const SECRET = 'abuse-fixture-secret-0123456789abcdef'

/** The HTTP answer to an upgrade that is refused before it happens. */
async function upgradeStatus (url: string, headers: Record<string, string> = {}): Promise<{ status: number, retryAfter: string | undefined }> {
  return await new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    socket.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined })
      res.resume()
      socket.terminate()
    })
    socket.once('open', () => { socket.close(); resolve({ status: 101, retryAfter: undefined }) })
    socket.once('error', (err) => { if (!/Unexpected server response/.test(err.message)) reject(err) })
  })
}

async function remote (t: Test, env: Record<string, string> = {}, logger?: unknown): Promise<{ fixture: Awaited<ReturnType<typeof startAuthService>>, gw: Awaited<ReturnType<typeof build>> }> {
  const fixture = await startAuthService(SECRET, { serviceId: AUTH_SERVICE.id, serviceSecret: AUTH_SERVICE.secret })
  t.teardown(() => fixture.close())
  const gw = await build(t, isolate(t), { AUTH_MODE: 'remote', AUTH_SERVICE_URL: fixture.url, ...env }, logger)
  return { fixture, gw }
}

t.test('a refused token is remembered: repeating it does not call the auth service again', async (t) => {
  const { fixture, gw } = await remote(t)
  const junk = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bm90LWEtc2lnbmF0dXJl'
  for (let i = 0; i < 20; i++) await expectRefused(t, `${gw.ws}/ws`, bearer(junk))
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${gw.http}/api/websocket/ticket`, { method: 'POST', headers: { authorization: `Bearer ${junk}` } })
    t.equal(res.status, 401)
  }
  t.equal(fixture.calls, 1, 'one call for 25 presentations of the same junk token')
  const good = await connect(gw, await mint({ key: SECRET, sub: 'alice' }))
  t.equal(good.frames[0]?.type, 'connection_established', 'good tokens are unaffected')
  good.socket.close()
})

t.test('an address over its failed-auth limit gets 429 with Retry-After, before any call, and one log line', async (t) => {
  const logs = new LogCapture()
  const { fixture, gw } = await remote(t, { CLIENT_AUTH_FAILURES_MAX: '5', LOG_LEVEL: 'info' }, logs.logger)
  const junk = (i: number): string => `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4${i}In0.bm90LWEtc2lnbmF0dXJl`
  for (let i = 0; i < 5; i++) await expectRefused(t, `${gw.ws}/ws`, bearer(junk(i)))
  t.equal(fixture.calls, 5)
  for (let i = 5; i < 25; i++) {
    const refused = await upgradeStatus(`${gw.ws}/ws`, { authorization: `Bearer ${junk(i)}` })
    t.equal(refused.status, 429, 'the upgrade is refused before it happens')
    t.ok(Number(refused.retryAfter) >= 1, `Retry-After ${refused.retryAfter}`)
  }
  const ticket = await fetch(`${gw.http}/api/websocket/ticket`, { method: 'POST', headers: { authorization: `Bearer ${junk(99)}` } })
  t.equal(ticket.status, 429)
  t.equal((await ticket.json() as { code: string }).code, 'RATE_LIMITED')
  t.ok(Number(ticket.headers.get('retry-after')) >= 1, 'with Retry-After')
  t.equal(fixture.calls, 5, 'no call to the auth service once the address is refused')
  const lines = logs.lines.filter((l) => l.includes('failed-authentication limit'))
  t.equal(lines.length, 1, 'one log line for the whole flood')
  t.match(JSON.parse(lines[0]!), { level: 30 }, 'at info')
  t.notOk(logs.lines.some((l) => JSON.parse(l).level >= 50), 'nothing at error level')
})

t.test('upgrades and ticket requests per address: 429 with Retry-After; X-Forwarded-For picks no new bucket', async (t) => {
  const logs = new LogCapture()
  const gw = await build(t, isolate(t), { CLIENT_UPGRADES_MAX: '3', CLIENT_TICKETS_MAX: '2', LOG_LEVEL: 'info' }, logs.logger)
  const jwt = await token('alice')
  for (let i = 0; i < 3; i++) t.equal((await upgradeStatus(`${gw.ws}/ws`, { authorization: `Bearer ${jwt}` })).status, 101)
  for (let i = 0; i < 10; i++) {
    const refused = await upgradeStatus(`${gw.ws}/ws`, { authorization: `Bearer ${jwt}`, 'x-forwarded-for': `203.0.113.${i}` })
    t.equal(refused.status, 429, 'the same address, whatever X-Forwarded-For says')
    t.ok(Number(refused.retryAfter) >= 1)
  }
  const buy = async (): Promise<Response> => await fetch(`${gw.http}/api/websocket/ticket`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } })
  t.equal((await buy()).status, 200)
  t.equal((await buy()).status, 200)
  const third = await buy()
  t.equal(third.status, 429)
  t.equal((await third.json() as { code: string }).code, 'RATE_LIMITED')
  t.ok(Number(third.headers.get('retry-after')) >= 1)
  await buy()
  t.equal(logs.lines.filter((l) => l.includes('over its rate limit')).length, 2, 'one line per route and address, not one per refusal')
  t.notOk(logs.lines.some((l) => JSON.parse(l).level >= 50), 'nothing at error level')
})

t.test('calls to the auth service are bounded: junk past the bound is refused at once and the breaker stays closed', async (t) => {
  const { fixture, gw } = await remote(t, { AUTH_MAX_CONCURRENT: '3', AUTH_BREAKER_FAILURES: '2' })
  fixture.mode = 'gate'
  const junk = await Promise.all(Array.from({ length: 3 }, async (_, i) => await mint({ key: 'not-the-secret-of-the-service-0123456789', sub: `junk${i}` })))
  // The upgrades finish only once their verification does: opened now, awaited after the gate opens.
  const held = junk.map(async (j) => await upgradeStatus(`${gw.ws}/ws`, { authorization: `Bearer ${j}` }))
  while (fixture.calls < 3) await fixture.nextCall()
  // A legitimate user arrives while junk holds every slot: told to retry (1011) at once, not after a timeout.
  await expectRefused(t, `${gw.ws}/ws`, bearer(await mint({ key: SECRET, sub: 'bob' })), 'AUTH_UNAVAILABLE')
  t.equal(fixture.calls, 3, 'the refused one made no call')
  fixture.mode = 'normal'
  fixture.open()
  await Promise.all(held)
  t.equal(gw.app.auth.status().breaker, 'closed', 'the busy refusals did not count as failures')
  const bob = await connect(gw, await mint({ key: SECRET, sub: 'bob' }))
  t.equal(bob.frames[0]?.type, 'connection_established', 'once the slots are free the user gets in')
  bob.socket.close()
})

t.test('an upgrade flood over capacity is logged once a window at info, never at error with a stack', async (t) => {
  const logs = new LogCapture()
  const gw = await build(t, null, { MAX_SOCKETS: '1', LOG_LEVEL: 'info' }, logs.logger)
  const first = await connect(gw, await token('alice'))
  for (let i = 0; i < 30; i++) t.equal((await upgradeStatus(`${gw.ws}/ws`, { authorization: `Bearer ${await token('bob')}` })).status, 503)
  t.equal(logs.lines.filter((l) => l.includes('requests refused')).length, 1, 'one line for 30 refusals')
  t.notOk(logs.lines.some((l) => JSON.parse(l).level >= 50), 'nothing at error level')
  first.socket.close()
})
