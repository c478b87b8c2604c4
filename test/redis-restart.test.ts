// Redis killed and restarted during a run: once it is back, every connected socket has every acknowledged event.
import t from 'tap'
import { build, ctx, ingest, isolate, pollUntil } from './helper.js'
import { freePort, RedisProcess } from './fixtures/redis-server.js'
import { StreamClient, upTo } from './stream-client.js'

t.test('no acknowledged event is lost to a connected socket across a Redis restart', async (t) => {
  const redis = new RedisProcess(await freePort())
  await redis.start()
  t.teardown(() => redis.kill())
  const iso = isolate(t)
  // Frequent probes: readiness follows the pub/sub path closely once Redis is back.
  const env = { REDIS_URL: redis.url, WATCHDOG_INTERVAL_MS: '200' }
  const gws = [await build(t, iso, env), await build(t, iso, env)]
  const users = ['rr-alice', 'rr-bob', 'rr-carol']
  const clients = users.map((u) => new StreamClient(u))
  await Promise.all(clients.map((c, i) => c.connect(gws[i % 2]!.ws)))
  const acked = new Map(users.map((u) => [u, 0]))

  const burst = async (round: number): Promise<void> => {
    for (const [i, gw] of gws.entries()) {
      const events = users.map((u) => ({ type: 'agent_thinking', context: ctx(u, `run_rr_${u}`), reasoning: `round ${round}.${i}` }))
      const res = await ingest(gw.http, { events })
      t.equal(res.status, 202, `round ${round} on instance ${i + 1} acknowledged`)
      for (const u of users) acked.set(u, acked.get(u)! + 1)
    }
  }
  for (let round = 0; round < 3; round++) await burst(round)
  await Promise.all(clients.map((c) => c.until(acked.get(c.user)!)))

  await redis.kill()
  for (let round = 3; round < 6; round++) await burst(round) // stored, not published
  const ready = await fetch(`${gws[0]!.http}/health/ready`)
  t.equal(ready.status, 503, 'not ready while Redis is down')

  await redis.start()
  for (let round = 6; round < 8; round++) await burst(round)
  await Promise.all(clients.map((c) => c.until(acked.get(c.user)!, 20000)))
  for (const c of clients) t.same(c.seqs(), upTo(acked.get(c.user)!), `${c.user}: every acknowledged event, in order, once`)
  // Readiness returns with the next probe that comes back (every 200 ms): ask until it does, within a bound.
  t.ok(await pollUntil(async () => (await fetch(`${gws[0]!.http}/health/ready`)).status === 200, 100, 50), 'ready again')
  await Promise.all(clients.map((c) => c.socket?.close()))
})
