// Remote verification against a real local auth service: contract cases, outages as 1011, breaker, single flight, cache bounds.
import t, { type Test } from 'tap'
import { type AuthFixture, startAuthService } from './fixtures/auth-service.js'
import { LogCapture } from './fixtures/log-capture.js'
import { mint, unsigned } from './fixtures/tokens.js'
import { bearer, build, connect, DEV_SECRET, expectRefused, isolate, type Running, SERVICE, AUTH_SERVICE, TestClock } from './helper.js'

type Tap = Test
const SECRET = 'remote-fixture-secret-0123456789abcdef'
const logs = new LogCapture()
logs.secret(SECRET, SERVICE.secret, DEV_SECRET, AUTH_SERVICE.secret)

const sign = async (sub: string, opts: Partial<Parameters<typeof mint>[0]> = {}): Promise<string> => await mint({ key: SECRET, sub, ...opts })
const nowS = (): number => Math.floor(Date.now() / 1000)

async function fixture (t: Tap): Promise<AuthFixture> {
  const f = await startAuthService(SECRET, { serviceId: AUTH_SERVICE.id, serviceSecret: AUTH_SERVICE.secret })
  t.teardown(() => f.close())
  return f
}

async function gateway (t: Tap, f: AuthFixture, env: Record<string, string> = {}, clock?: TestClock): Promise<Running> {
  return await build(t, isolate(t), { AUTH_MODE: 'remote', AUTH_SERVICE_URL: f.url, ...env }, logs.logger, { clock })
}

t.test('the contract: only valid:true with a user_id lets a user in; every bad token is 1008', async (t) => {
  const f = await fixture(t)
  const gw = await gateway(t, f)
  const ok = await connect(gw, await sign('remote-user'))
  t.equal(ok.frames[0]?.data?.user_id, 'remote-user', 'user_id comes from the service\'s answer')
  t.equal(f.calls, 1, 'one call to /auth/validate')
  await ok.close()

  const valid = await sign('alice')
  const cases: Array<[string, string]> = [
    ['invalid', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bm90LWEtc2lnbmF0dXJl'],
    ['expired', await sign('alice', { now: nowS() - 7200, ttlS: 60 })],
    ['forged signature', await mint({ key: 'another-secret-of-at-least-32-chars!!', sub: 'alice' })],
    ['alg none', unsigned(valid)],
    ['wrong iss', await sign('alice', { iss: 'someone-else' })],
    ['wrong aud', await sign('alice', { aud: 'someone-else' })],
    ['refresh token used as access', await sign('alice', { tokenType: 'refresh' })]
  ]
  for (const [name, jwt] of cases) {
    await t.test(name, async (t) => {
      const before = f.calls
      await expectRefused(t, `${gw.ws}/ws`, bearer(jwt))
      t.equal(f.calls, before + 1, 'the service decided')
    })
  }
  const before = f.calls
  await expectRefused(t, `${gw.ws}/ws?token=two.segments`)
  t.equal(f.calls, before, 'a token that is not three segments is refused without a call')
})

t.test('an unreachable, slow or failing service is AUTH_UNAVAILABLE and 1011, and open sockets stay open', async (t) => {
  const f = await fixture(t)
  const gw = await gateway(t, f, { AUTH_CONNECT_TIMEOUT_MS: '200', AUTH_READ_TIMEOUT_MS: '200', AUTH_BREAKER_FAILURES: '100' })
  const open = await connect(gw, await sign('steady'))

  const outages: Array<[string, () => Promise<void>]> = [
    ['slower than the read timeout', async () => { f.mode = 'slow'; f.delayMs = 1500 }],
    ['answering 500', async () => { f.mode = 'error' }],
    ['hanging', async () => { f.mode = 'hang' }],
    ['stopped', async () => { f.mode = 'normal'; await f.stop() }]
  ]
  for (const [name, setup] of outages) {
    await t.test(name, async (t) => {
      await setup()
      const started = Date.now()
      const frame = await expectRefused(t, `${gw.ws}/ws`, bearer(await sign(`user-${name.length}`)), 'AUTH_UNAVAILABLE')
      t.match(frame.error_message, /auth service unavailable/)
      t.ok(Date.now() - started < 1000, 'answered within the timeouts, not after the service')
    })
  }
  await f.start()
  f.mode = 'normal'
  open.send({ type: 'ping' })
  t.equal((await open.next('pong')).type, 'pong', 'the socket opened before the outage still answers')
  t.equal(gw.app.registry.connectionsOf('steady'), 1, 'and is still registered')
  await open.close()
})

t.test('the gateway\'s own service credentials refused by the service is an outage (1011), not a bad user token', async (t) => {
  const f = await fixture(t)
  const gw = await gateway(t, f, { AUTH_SERVICE_SECRET: 'not-the-secret-the-auth-service-expects' })
  logs.secret('not-the-secret-the-auth-service-expects')
  await expectRefused(t, `${gw.ws}/ws`, bearer(await sign('alice')), 'AUTH_UNAVAILABLE')
})

t.test('the breaker opens after 3 failures, fails fast while open, and closes again when the service recovers', async (t) => {
  const f = await fixture(t)
  const clock = new TestClock()
  // A minute: real time never reaches it during the test, only the skipped clock does.
  const gw = await gateway(t, f, { AUTH_BREAKER_RESET_MS: '60000' }, clock)
  const cached = await sign('cached-user')
  await (await connect(gw, cached)).close()
  t.equal(f.calls, 1)

  f.mode = 'error'
  for (let i = 0; i < 3; i++) await expectRefused(t, `${gw.ws}/ws`, bearer(await sign(`u${i}`)), 'AUTH_UNAVAILABLE')
  t.equal(f.calls, 4, 'three failed calls')
  t.equal(gw.app.auth.status().breaker, 'open', 'the circuit is open')
  const fast = await expectRefused(t, `${gw.ws}/ws`, bearer(await sign('u3')), 'AUTH_UNAVAILABLE')
  t.match(fast.error_message, /circuit open/)
  t.equal(f.calls, 4, 'no call while open')

  const whileDown = await connect(gw, cached)
  t.equal(whileDown.frames[0]?.data?.user_id, 'cached-user', 'a cached user still connects while the service is down')
  await whileDown.close()

  // The reset delay is what is tested: one millisecond short of it the circuit stays open, then the clock reaches it.
  clock.advance(59_000)
  await expectRefused(t, `${gw.ws}/ws`, bearer(await sign('u3b')), 'AUTH_UNAVAILABLE')
  t.equal(f.calls, 4, 'still open just before AUTH_BREAKER_RESET_MS')
  clock.advance(1_000)
  await expectRefused(t, `${gw.ws}/ws`, bearer(await sign('u4')), 'AUTH_UNAVAILABLE')
  t.equal(f.calls, 5, 'half-open: one trial call')
  t.equal(gw.app.auth.status().breaker, 'open', 'a failed trial opens the circuit again')

  f.mode = 'normal'
  clock.advance(60_000)
  const back = await connect(gw, await sign('u5'))
  t.equal(f.calls, 6, 'the trial call succeeded')
  t.equal(gw.app.auth.status().breaker, 'closed', 'and closed the circuit')
  await back.close()
  await (await connect(gw, await sign('u6'))).close()
  t.equal(f.calls, 7, 'calls flow again')
})

t.test('single flight: 1,000 sockets connecting at once with one uncached token cause one call', async (t) => {
  const f = await fixture(t)
  const gw = await gateway(t, f, { MAX_SOCKETS_PER_USER: '1000' })
  const jwt = await sign('crowd')
  f.mode = 'gate'
  let upgrades = 0
  const allArrived = new Promise<void>((resolve) => gw.app.server.on('upgrade', () => { if (++upgrades === 1000) resolve() }))
  const opening = Array.from({ length: 1000 }, async () => await connect(gw, jwt))
  await allArrived
  // Every upgrade has run its hooks (no I/O between the upgrade event and the verification) once this turn ends.
  await new Promise((resolve) => setImmediate(resolve))
  t.same(gw.app.auth.status().cache, { hits: 0, misses: 1, joined: 999, size: 0 }, 'one flight, 999 joined it while the service was held')
  f.open()
  const clients = await Promise.all(opening)
  t.equal(f.calls, 1, 'the auth service saw one call')
  t.equal(clients.filter((c) => c.frames[0]?.type === 'connection_established').length, 1000, 'all 1,000 connected')
  await Promise.all(clients.map(async (c) => await c.close()))
})

t.test('single flight does not depend on the cache', async (t) => {
  const f = await fixture(t)
  const gw = await gateway(t, f, { AUTH_CACHE_TTL_S: '0' })
  const jwt = await sign('direct')
  const identities = await Promise.all(Array.from({ length: 1000 }, async () => await gw.app.auth.verify(jwt)))
  t.equal(f.calls, 1, '1,000 concurrent verifications, one call')
  t.ok(identities.every((i) => i.userId === 'direct'))
  await gw.app.auth.verify(jwt)
  t.equal(f.calls, 2, 'with the cache off, a later verification asks again')
})

t.test('the cache is honoured, bounded by the token\'s expiry, by AUTH_CACHE_TTL_S and by AUTH_CACHE_MAX', async (t) => {
  const f = await fixture(t)
  const clock = new TestClock()
  f.clock = clock
  const gw = await gateway(t, f, {}, clock)
  const shortLived = await sign('brief', { ttlS: 2 })
  await (await connect(gw, shortLived)).close()
  await (await connect(gw, shortLived)).close()
  t.equal(f.calls, 1, 'the second connect was served from the cache')
  t.equal(gw.app.auth.status().cache?.hits, 1)
  // The token's expiry is what is tested: the gateway's and the service's clock skip past it.
  const exp = (JSON.parse(Buffer.from(shortLived.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp
  clock.advanceTo(exp * 1000 + 50)
  await expectRefused(t, `${gw.ws}/ws`, bearer(shortLived))
  t.equal(f.calls, 2, 'the entry did not outlive the token: the service was asked and refused it')

  const ttl = await gateway(t, f, { AUTH_CACHE_TTL_S: '60', AUTH_CACHE_MAX: '2' }, clock)
  const long = await sign('long')
  const before = f.calls
  await ttl.app.auth.verify(long)
  await ttl.app.auth.verify(long)
  t.equal(f.calls, before + 1, 'cached')
  clock.advance(59_000)
  await ttl.app.auth.verify(long)
  t.equal(f.calls, before + 1, 'still cached just before AUTH_CACHE_TTL_S')
  clock.advance(1_000)
  await ttl.app.auth.verify(long)
  t.equal(f.calls, before + 2, 'asked again after AUTH_CACHE_TTL_S')

  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map(async (u) => await sign(u)))
  for (const jwt of [a, b, c]) await ttl.app.auth.verify(jwt!)
  t.equal(ttl.app.auth.status().cache?.size, 2, 'never more than AUTH_CACHE_MAX entries')
  const calls = f.calls
  await ttl.app.auth.verify(c!)
  t.equal(f.calls, calls, 'the most recent entry is kept')
  await ttl.app.auth.verify(a!)
  t.equal(f.calls, calls + 1, 'the least recently used was dropped')
})

t.test('the blacklist check, when on, refuses a blacklisted token', async (t) => {
  const f = await fixture(t)
  const gw = await gateway(t, f, { AUTH_BLACKLIST_CHECK: 'true' })
  const listed = await sign('leaver')
  f.blacklist.add(listed)
  const frame = await expectRefused(t, `${gw.ws}/ws`, bearer(listed))
  t.match(frame.error_message, /revoked/)
  await (await connect(gw, await sign('stayer'))).close()
  t.equal(f.blacklistCalls, 2, 'asked for each uncached token, alongside /auth/validate')

  const off = await gateway(t, f)
  await (await connect(off, await sign('stayer'))).close()
  t.equal(f.blacklistCalls, 2, 'not asked when AUTH_BLACKLIST_CHECK is off')
})

t.test('no token, ticket or secret reached a log line of this file', async (t) => {
  t.ok(logs.lines.length > 100, `${logs.lines.length} lines captured`)
  t.ok(logs.lines.some((l) => l.includes('token=[REDACTED]')), 'query tokens were logged, redacted')
  t.same(logs.leaks(), [], 'no leak')
})
