// Health: /health is liveness, /health/ready checks Redis and PostgreSQL in production mode.
import t from 'tap'
import { build, isolate } from './helper.js'

t.test('production mode reports Redis and PostgreSQL readiness', async (t) => {
  const gw = await build(t, isolate(t))
  const live = await fetch(`${gw.http}/health`)
  t.equal(live.status, 200)
  t.match(await live.json(), { status: 'ok', mode: 'production' })
  t.equal((await fetch(`${gw.http}/ws/health`)).status, 200)

  const ready = await fetch(`${gw.http}/health/ready`)
  t.equal(ready.status, 200)
  t.same(await ready.json(), { status: 'ready', checks: { redis: 'ok', postgres: 'ok', pubsub: 'ok' } })

  // A lost database makes the instance not ready, but still alive.
  await gw.app.pg!.end()
  const notReady = await fetch(`${gw.http}/health/ready`)
  t.equal(notReady.status, 503)
  t.match(await notReady.json(), { status: 'not_ready', checks: { redis: 'ok', postgres: /^failing/ } })
  t.equal((await fetch(`${gw.http}/health`)).status, 200)
})

t.test('unknown routes answer 404 in the error model', async (t) => {
  const gw = await build(t, null)
  const res = await fetch(`${gw.http}/nope?token=secret`)
  t.equal(res.status, 404)
  t.same(await res.json(), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: 'no route GET /nope' })
})
