// Browser and abuse safety: the Origin allowlist on the upgrade, and the per-user socket cap across instances.
import t from 'tap'
import { LogCapture } from './fixtures/log-capture.js'
import { bearer, build, Client, connect, DEV_SECRET, expectRefused, isolate, redis, type Running, SERVICE, token, gone } from './helper.js'

const logs = new LogCapture()
logs.secret(SERVICE.secret, DEV_SECRET)

const connectAs = async (gw: Running, user: string, headers: Record<string, string> = {}): Promise<Client> => await connect(gw, await token(user), headers)

t.test('ALLOWED_ORIGINS: a listed origin or no origin connects; any other origin is refused before the upgrade', async (t) => {
  const gw = await build(t, isolate(t), { ALLOWED_ORIGINS: 'https://app.example.com,http://localhost:3000' }, logs.logger)
  await (await connectAs(gw, 'olga', { origin: 'https://app.example.com' })).close()
  await (await connectAs(gw, 'olga', { origin: 'http://localhost:3000' })).close()
  await (await connectAs(gw, 'olga')).close()
  t.pass('listed origins, and clients that send none (not browsers), connect')

  for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.com', 'http://app.example.com', 'null']) {
    const err = await Client.open(`${gw.ws}/ws`, { headers: { ...bearer(await token('olga')).headers, origin } }).catch((e: Error) => e)
    t.match(err, { message: /Unexpected server response: 403/ }, `${origin}: HTTP 403, no socket`)
  }
  const res = await fetch(`${gw.http}/ws`, { headers: { origin: 'https://evil.example.com' } })
  t.equal(res.status, 403)
  t.match(await res.json(), { code: 'ORIGIN_NOT_ALLOWED', message: /evil\.example\.com/ })

  const open = await build(t, isolate(t), {}, logs.logger)
  await (await connectAs(open, 'olga', { origin: 'https://anywhere.example' })).close()
  t.pass('an empty list (outside production) lets any origin in')
})

t.test('the per-user cap (default 10) holds across two instances, and a closed socket frees its slot', async (t) => {
  const iso = isolate(t)
  const one = await build(t, iso, { INSTANCE_ID: 'cap-one' }, logs.logger)
  const two = await build(t, iso, { INSTANCE_ID: 'cap-two' }, logs.logger)
  const held: Client[] = []
  for (let i = 0; i < 10; i++) held.push(await connectAs(i % 2 === 0 ? one : two, 'pat'))
  t.equal(await one.app.sessions.socketsOf('pat'), 10, 'ten slots taken across both')

  for (const gw of [one, two]) {
    const frame = await expectRefused(t, `${gw.ws}/ws`, bearer(await token('pat')), 'TOO_MANY_CONNECTIONS', 1013)
    t.match(frame.error_message, /too many sockets/)
    t.equal(gw.app.registry.connectionsOf('pat'), 5, 'the refused socket was never left among the user\'s sockets')
  }
  t.equal(await one.app.sessions.socketsOf('pat'), 10, 'nor kept a slot')
  await (await connectAs(one, 'quinn')).close()
  t.pass('another user is not affected')

  // Close the five on instance one; its count read on the same connection follows the releases.
  await Promise.all(held.filter((_, i) => i % 2 === 0).map(async (c) => await c.close()))
  await gone(one, 'pat')
  t.equal(await one.app.sessions.socketsOf('pat'), 5, 'closed sockets gave their slots back')
  const rest = held.filter((_, i) => i % 2 === 1)
  for (let i = 0; i < 5; i++) rest.push(await connectAs(two, 'pat'))
  t.pass('and the freed slots serve the other instance')
  await expectRefused(t, `${two.ws}/ws`, bearer(await token('pat')), 'TOO_MANY_CONNECTIONS', 1013)
  await Promise.all(rest.map(async (c) => await c.close()))
  await gone(two, 'pat')
  t.equal(await two.app.sessions.socketsOf('pat'), 0, 'every slot released')
})

t.test('slots of a dead instance do not count once their leases have lapsed', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, { MAX_SOCKETS_PER_USER: '2' }, logs.logger)
  const r = redis(t)
  const key = `${iso.prefix}sockets:{rita}`
  const [seconds] = await r.time()
  // What a crashed instance leaves behind: members whose leases it stopped renewing.
  await r.zadd(key, Number(seconds) * 1000 - 1000, 'crashed:a', Number(seconds) * 1000 - 1000, 'crashed:b')
  const c = await connectAs(gw, 'rita')
  t.equal(await r.zcard(key), 1, 'the lapsed members were purged; only the live socket counts')
  await c.close()
})

t.test('a graceful shutdown gives the instance\'s slots back at once', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, {}, logs.logger)
  const r = redis(t)
  await connectAs(gw, 'tess')
  await connectAs(gw, 'tess')
  t.equal(await r.zcard(`${iso.prefix}sockets:{tess}`), 2)
  await gw.app.close()
  t.equal(await r.zcard(`${iso.prefix}sockets:{tess}`), 0, 'no lease left to lapse')
})

t.test('the embedded mode enforces the cap in memory', async (t) => {
  const gw = await build(t, null, { MAX_SOCKETS_PER_USER: '2' }, logs.logger)
  const a = await connectAs(gw, 'sam')
  const b = await connectAs(gw, 'sam')
  await expectRefused(t, `${gw.ws}/ws`, bearer(await token('sam')), 'TOO_MANY_CONNECTIONS', 1013)
  await Promise.all([a.close(), b.close()])
})

t.test('no token, ticket or secret reached a log line of this file', async (t) => {
  t.same(logs.leaks(), [], 'no leak')
})
