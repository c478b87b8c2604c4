// Retention: whole days past RETENTION_HOURS leave the log; the days ahead exist; every user's offsets stay.
import t from 'tap'
import { retainOnce } from '../src/plugins/app/retention.js'
import { build, ctx, ingest, isolate, pgClient } from './helper.js'

const DAY = 86_400_000
const partName = (ms: number): string => `events_p${new Date(ms).toISOString().slice(0, 10).replaceAll('-', '')}`

t.test('a day older than retention is dropped whole; newer events and the offset counter stay', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, { RETENTION_INTERVAL_S: '0' })
  const db = pgClient(t, iso.schema)
  const context = ctx('keeper')
  const events = Array.from({ length: 25 }, (_, i) => ({ type: 'agent_thinking', context, reasoning: `r${i}` }))
  await ingest(gw.http, { events })
  // Three days ago there was no partition: the rows land in the default one until upkeep gives them their day.
  await db.query('UPDATE events SET stored_at = now() - interval \'3 days\' WHERE seq <= 20')
  t.equal(Number((await db.query('SELECT count(*) AS n FROM events_default')).rows[0].n), 20)

  const dropped = await retainOnce(gw.app.store, new Date(Date.now() - 3600_000))
  t.equal(dropped.partitions, 1, 'the old day, as one partition')
  t.equal(Number((await db.query('SELECT count(*) AS n FROM events_default')).rows[0].n), 0, 'nothing left in the default partition')
  const { rows } = await db.query('SELECT seq FROM events ORDER BY seq')
  t.same(rows.map((r) => Number(r.seq)), [21, 22, 23, 24, 25])
  t.equal(await gw.app.store.earliest('keeper'), 21)
  t.equal((await gw.app.store.position('keeper')).seq, 25, 'the offset counter is kept')
  await ingest(gw.http, { type: 'agent_thinking', context, reasoning: 'after' })
  t.equal((await gw.app.store.position('keeper')).seq, 26, 'offsets continue, never reused')
  t.same(await retainOnce(gw.app.store, new Date(Date.now() - 3600_000)), { partitions: 0, events: 0 }, 'nothing more to drop')
})

t.test('boot creates today and the days ahead, so no event lands in the default partition', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, { RETENTION_INTERVAL_S: '0' })
  const db = pgClient(t, iso.schema)
  const { rows } = await db.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' AND p.relnamespace = current_schema()::regnamespace`)
  const names = rows.map((r) => r.relname as string)
  const now = Date.now()
  for (const d of [0, 1, 2]) t.ok(names.includes(partName(now + d * DAY)), `${partName(now + d * DAY)} exists`)
  await ingest(gw.http, { type: 'agent_thinking', context: ctx('today'), reasoning: 'x' })
  const where = await db.query('SELECT tableoid::regclass::text AS part FROM events')
  t.same(where.rows.map((r) => r.part), [partName(now)], 'stored in today\'s partition')
})
