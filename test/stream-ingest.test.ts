// Ingest from a Redis Stream: one consumer group across instances, ack after store, dead letters with a reason.
import { Redis } from 'ioredis'
import pino from 'pino'
import t, { type Test } from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import type { AgentEvent } from '../src/events/envelope.js'
import { StreamReader } from '../src/plugins/app/ingest/stream-reader.js'
import { build, ctx, goldenRun, ingest, isolate, pgClient, pollUntil, REDIS_URL, redis } from './helper.js'
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

/**
 * A reader over real Redis whose submit the test holds: the first `held` units wait for `release`, which lets them
 * through or fails them as a store outage would (not the data's fault: they stay pending and are read again).
 */
function heldReader (t: Test, key: string, held: number): { reader: StreamReader, submitted: string[], release: (fail: boolean) => void } {
  const submitted: string[] = []
  let release!: (fail: boolean) => void
  const gate = new Promise<boolean>((resolve) => { release = resolve })
  const reader = new StreamReader({
    key,
    group: 'g',
    consumer: 'c1',
    maxBatch: 100,
    command: redis(t),
    reader: new Redis(REDIS_URL), // the reader disconnects it on stop
    async submit (events: AgentEvent[]) {
      submitted.push(events[0]!.event_id)
      if (submitted.length <= held && await gate) throw new Error('the store is unreachable')
    },
    log: pino({ level: 'silent' }) as unknown as FastifyBaseLogger
  })
  t.teardown(() => reader.stop())
  return { reader, submitted, release }
}

const entry = (id: string): string => JSON.stringify({ type: 'agent_thinking', event_id: id, context: ctx('ahead'), reasoning: id })

async function add (r: Redis, key: string, ids: string[]): Promise<void> {
  const pipeline = r.pipeline()
  for (const id of ids) pipeline.xadd(key, '*', 'event', entry(id))
  await pipeline.exec()
}

const A = ['a0', 'a1', 'a2']
const B = ['b0', 'b1']

t.test('the next entries are read while the previous are stored, and handed on only after them', async (t) => {
  const iso = isolate(t)
  const r = redis(t)
  const key = `${iso.prefix}ahead`
  const { reader, submitted, release } = heldReader(t, key, A.length)
  await add(r, key, A)
  await reader.start()
  t.ok(await pollUntil(async () => submitted.length === A.length), 'the first read is handed on')
  await add(r, key, B)
  // Read ahead: delivered to this consumer (pending) while the first entries are still being stored.
  t.ok(await pollUntil(async () => (await r.xpending(key, 'g') as [number])[0] > A.length), 'the next entries are read meanwhile')
  t.same(submitted, A, 'but not handed on before those in front of them are settled')
  release(false)
  t.ok(await pollUntil(async () => await r.xlen(key) === 0), 'all acknowledged')
  t.same(submitted, [...A, ...B], 'in stream order')
})

t.test('a read ahead of entries whose store failed is read again after them, never before', async (t) => {
  const iso = isolate(t)
  const r = redis(t)
  const key = `${iso.prefix}ahead`
  const { reader, submitted, release } = heldReader(t, key, A.length)
  await add(r, key, A)
  await reader.start()
  t.ok(await pollUntil(async () => submitted.length === A.length))
  await add(r, key, B)
  t.ok(await pollUntil(async () => (await r.xpending(key, 'g') as [number])[0] > A.length), 'the next entries are read meanwhile')
  release(true) // the store is down for the first entries: they stay pending
  t.ok(await pollUntil(async () => await r.xlen(key) === 0), 'all acknowledged once the store is back')
  t.same(submitted, [...A, ...A, ...B], 'the failed entries again, then the read ahead: the stream order is kept')
})
