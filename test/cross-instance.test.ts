// Across instances: two gateways share one Redis and one database; an event ingested on one reaches a socket on the other.
import t from 'tap'
import { build, Client, ctx, goldenRun, ingest, isolate } from './helper.js'

t.test('an event ingested through instance 2 reaches user A on instance 1', async (t) => {
  const iso = isolate(t)
  const one = await build(t, iso, { INSTANCE_ID: 'gw-one' })
  const two = await build(t, iso, { INSTANCE_ID: 'gw-two' })
  const alice = await Client.as(one.ws, 'alice-x')
  const bobOnTwo = await Client.as(two.ws, 'bob-x')

  const run = goldenRun(ctx('alice-x'))
  const res = await ingest(two.http, { events: run })
  t.equal(res.status, 202)
  const got = await alice.count(run.map((e) => e.type as string), 5)
  t.same(got.map((f) => f.event_id), res.body.event_ids, 'all five, in order, on the other instance')

  const bobRun = goldenRun(ctx('bob-x'))
  await ingest(one.http, { events: bobRun })
  await bobOnTwo.count(['agent_completed'], 1)
  t.notOk(alice.frames.some((f) => f.user_id === 'bob-x'), 'alice sees none of bob\'s events')
  t.notOk(bobOnTwo.frames.some((f) => f.user_id === 'alice-x'), 'bob sees none of alice\'s events')
  await Promise.all([alice.close(), bobOnTwo.close()])
})
