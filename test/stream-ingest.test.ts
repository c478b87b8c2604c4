// Ingest from a Redis Stream: one consumer group across instances, ack after store, dead letters with a reason.
import t from 'tap'
import { build, ctx, goldenRun, ingest, isolate, pgClient, pollUntil, redis } from './helper.js'
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

t.test('an entry the event log refuses is isolated and dead-lettered; the rest of its batch is stored', async (t) => {
  const iso = isolate(t)
  const r = redis(t)
  const key = `${iso.prefix}ingest`
  const gw = await build(t, iso)
  const db = pgClient(t, iso.schema)
  // A refusal by PostgreSQL itself, past every check at the edge: the group must split around it.
  await db.query("ALTER TABLE events ADD CONSTRAINT refuse_poison CHECK (request_id <> 'req_poison')")
  const users = ['split-0', 'split-1', 'split-2']
  const clients = users.map((u) => new StreamClient(u))
  for (const c of clients) await c.connect(gw.ws)
  const runs = users.map((u) => ctx(u))
  const pipeline = r.pipeline()
  for (let i = 0; i < 60; i++) {
    if (i === 31) pipeline.xadd(key, '*', 'event', JSON.stringify({ type: 'agent_thinking', context: { ...ctx('split-1'), request_id: 'req_poison' }, reasoning: 'poison' }))
    pipeline.xadd(key, '*', 'event', JSON.stringify({ type: 'agent_thinking', context: runs[i % 3], reasoning: `step ${i}` }))
  }
  await pipeline.exec()
  for (const c of clients) {
    await c.until(20)
    t.same(c.seqs(), upTo(20), `${c.user}: all 20 of its good entries, in order`)
  }
  t.equal((await db.query('SELECT count(*)::int AS n FROM events')).rows[0].n, 60)
  await pollUntil(async () => await r.xlen(`${key}:dead`) === 1)
  const [, fields] = (await r.xrange(`${key}:dead`, '-', '+'))[0]!
  t.match(fields[fields.indexOf('reason') + 1], /refused the content/)
  t.match(fields[fields.indexOf('event') + 1], /poison/)
  await pollUntil(async () => await r.xlen(key) === 0)
  t.equal(await r.xlen(key), 0, 'nothing left to read again: the stream is not jammed')

  // The same over HTTP: a 400 for the batch at fault, nothing of it stored; its neighbour is answered 202.
  const [bad, good] = await Promise.all([
    ingest(gw.http, { events: [{ type: 'agent_thinking', context: runs[0], reasoning: 'x' }, { type: 'agent_thinking', context: { ...ctx('split-0'), request_id: 'req_poison' }, reasoning: 'y' }] }),
    ingest(gw.http, { type: 'agent_thinking', context: runs[2], reasoning: 'neighbour' })
  ])
  t.equal(bad.status, 400)
  t.equal(bad.body.code, 'EVENT_REJECTED')
  t.equal(good.status, 202)
  await clients[2]!.until(21)
  t.equal((await db.query('SELECT count(*)::int AS n FROM events')).rows[0].n, 61, 'only the neighbour was stored')
  for (const c of clients) await c.socket?.close()
})
