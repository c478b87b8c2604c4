// Retention: old events leave the log in bounded batches; newer ones and every user's offsets stay.
import t from 'tap'
import { pruneOnce } from '../src/plugins/app/retention.js'
import { build, ctx, ingest, isolate, pgClient } from './helper.js'

t.test('events stored before the cut-off are deleted in batches, the rest stays', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, { RETENTION_INTERVAL_S: '0' })
  const db = pgClient(t, iso.schema)
  const context = ctx('keeper')
  const events = Array.from({ length: 25 }, (_, i) => ({ type: 'agent_thinking', context, reasoning: `r${i}` }))
  await ingest(gw.http, { events })
  await db.query('UPDATE events SET stored_at = now() - interval \'3 days\' WHERE seq <= 20')

  const deleted = await pruneOnce(gw.app.store, new Date(Date.now() - 3600_000), 6, 10)
  t.equal(deleted, 20, 'the 20 old events, in batches of 6')
  const { rows } = await db.query('SELECT seq FROM events ORDER BY seq')
  t.same(rows.map((r) => Number(r.seq)), [21, 22, 23, 24, 25])
  t.equal(await gw.app.store.earliest('keeper'), 21)
  t.same(await gw.app.store.position('keeper'), { seq: 25, epoch: (await gw.app.store.position('keeper')).epoch }, 'the offset counter is kept')
  await ingest(gw.http, { type: 'agent_thinking', context, reasoning: 'after' })
  t.equal((await gw.app.store.position('keeper')).seq, 26, 'offsets continue, never reused')
  t.equal(await pruneOnce(gw.app.store, new Date(Date.now() - 3600_000), 6, 10), 0, 'nothing more to delete')
})
