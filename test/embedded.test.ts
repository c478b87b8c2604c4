// The embedded mode: the golden path with no Redis and no PostgreSQL at all.
import t from 'tap'
import { loadConfig } from '../src/config.js'
import { build, Client, ctx, goldenRun, ingest, gone } from './helper.js'

t.test('embedded mode serves the golden path with an in-process broker and memory store', async (t) => {
  // Unreachable addresses prove nothing is contacted: the embedded mode must not need them.
  const gw = await build(t, null)
  t.equal(gw.config.mode, 'embedded')
  t.equal(gw.app.broker.kind, 'memory')
  t.equal(gw.app.store.kind, 'memory')
  t.equal(gw.app.redis, undefined, 'no Redis connection')
  t.equal(gw.app.pg, undefined, 'no PostgreSQL pool')

  const alice = await Client.as(gw.ws, 'alice')
  const bob = await Client.as(gw.ws, 'bob')
  const run = goldenRun(ctx('alice'))
  const res = await ingest(gw.http, { events: run })
  t.equal(res.status, 202)
  const got = await alice.count(run.map((e) => e.type as string), 5)
  t.same(got.map((f) => f.type), run.map((e) => e.type))
  t.same(got.map((f) => f.event_id), res.body.event_ids)
  await ingest(gw.http, goldenRun(ctx('bob'))[0])
  await bob.next('agent_started')
  t.equal(bob.frames.filter((f) => f.user_id === 'alice').length, 0, 'bob sees nothing of alice')

  const ready = await fetch(`${gw.http}/health/ready`)
  t.equal(ready.status, 200)
  await Promise.all([alice.close(), bob.close()])
  await gone(gw, 'alice')
})

t.test('embedded defaults: the .env.example service credentials and dev auth', async (t) => {
  const config = loadConfig({})
  t.equal(config.mode, 'embedded')
  t.equal(config.port, 8080)
  t.equal(config.host, '127.0.0.1', 'loopback: the embedded mode mints dev tokens for anyone who can reach it')
  t.equal(config.auth.mode, 'dev')
  t.same(config.service, { id: 'agent-worker', secret: 'dev-only-service-secret' })
})
