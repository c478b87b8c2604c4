// Ingest from a Redis Stream: one consumer group across instances, ack after store, dead letters with a reason.
import t from 'tap'
import { build, ctx, goldenRun, isolate, pgClient, redis } from './helper.js'
import { StreamClient, upTo } from './stream-client.js'

t.test('an event added while every instance is down is delivered once they start', async (t) => {
  const iso = isolate(t)
  const r = redis(t)
  const key = `${iso.prefix}ingest`
  const client = new StreamClient('streamer')
  const first = await build(t, iso)
  await client.connect(first.ws) // learns the stream's epoch
  await client.kill()
  await first.app.close()

  const context = ctx('streamer')
  await r.xadd(key, '*', 'event', JSON.stringify(goldenRun(context)[0]))
  t.equal(await r.xlen(key), 1, 'waiting in the stream while no gateway runs')

  const second = await build(t, iso)
  await client.connect(second.ws)
  await client.until(1)
  t.equal(client.events[0]!.type, 'agent_started')
  t.equal(client.events[0]!.run_id, context.run_id)
  const acked = await r.xpending(key, 'gateway') as [number]
  t.equal(acked[0], 0, 'acknowledged')
  await client.socket?.close()
})

t.test('instances share the group: each entry stored once, delivered in order; bad entries go to the dead-letter stream', async (t) => {
  const iso = isolate(t)
  const r = redis(t)
  const key = `${iso.prefix}ingest`
  const gws = [await build(t, iso), await build(t, iso)]
  const client = new StreamClient('worker-fed')
  await client.connect(gws[0]!.ws)
  const context = ctx('worker-fed')

  const pipeline = r.pipeline()
  for (let i = 0; i < 200; i++) {
    pipeline.xadd(key, '*', 'event', JSON.stringify({ type: 'agent_thinking', context, reasoning: `step ${i}` }))
    if (i === 50) pipeline.xadd(key, '*', 'event', '{not json')
    if (i === 100) pipeline.xadd(key, '*', 'event', JSON.stringify({ type: 'tool_executing', context, tool_name: 'search' }))
    if (i === 150) pipeline.xadd(key, '*', 'payload', 'no event field')
  }
  await pipeline.exec()

  await client.until(200)
  t.same(client.seqs(), upTo(200), 'all 200, in stream order, once')
  t.same(client.events.map((f) => f.reasoning), upTo(200).map((i) => `step ${i - 1}`))
  const { rows } = await pgClient(t, iso.schema).query('SELECT count(*)::int AS n FROM events')
  t.equal(rows[0].n, 200, 'stored once each')

  const dead = await r.xrange(`${key}:dead`, '-', '+')
  t.equal(dead.length, 3, 'three dead letters')
  const reasons = dead.map(([, fields]) => fields[fields.indexOf('reason') + 1])
  t.match(reasons[0], /JSON/)
  t.match(reasons[1], /parameters: is required/)
  t.match(reasons[2], /no "event" field/)
  t.equal(await r.xlen(key), 0, 'acknowledged entries are removed from the stream')
  await client.socket?.close()
})
