// PostgreSQL event log: one transaction per batch that stores, sequences and moves runs along; idempotent by event_id.
import type { AgentEvent } from '../../../events/envelope.js'
import { withClient, type PgPool, type PgPoolClient } from '../../external/postgres.js'
import { planRuns } from './runs.js'
import type { EventStore, RunRecord, StoredEvent, StreamPosition } from './store.js'

const INSERT_EVENTS = `
INSERT INTO events (event_id, user_id, thread_id, run_id, request_id, type, occurred_at, body)
SELECT event_id, user_id, thread_id, run_id, request_id, type, to_timestamp(ts), body
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::jsonb[])
  AS t(event_id, user_id, thread_id, run_id, request_id, type, ts, body)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id`

// Users in a fixed order, so two batches touching the same users lock their rows in the same order.
const TAKE_OFFSETS = `
INSERT INTO user_streams (user_id, seq)
SELECT u, n FROM unnest($1::text[], $2::bigint[]) AS t(u, n) ORDER BY u
ON CONFLICT (user_id) DO UPDATE SET seq = user_streams.seq + EXCLUDED.seq, updated_at = now()
RETURNING user_id, seq, epoch`

const SET_SEQ = `
UPDATE events e SET seq = t.seq FROM unnest($1::text[], $2::bigint[]) AS t(id, seq) WHERE e.event_id = t.id`

const LOCK_RUNS = `
SELECT run_id, user_id, status, ended_at FROM runs WHERE run_id = ANY($1::text[]) ORDER BY run_id FOR UPDATE`

const UPSERT_RUNS = `
INSERT INTO runs (run_id, user_id, thread_id, status, ended_at, last_seq, events)
SELECT r, u, th, st, CASE WHEN ended THEN now() END, ls, n
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bigint[], $7::int[]) AS t(r, u, th, st, ended, ls, n)
ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, ended_at = EXCLUDED.ended_at,
  last_seq = EXCLUDED.last_seq, events = runs.events + EXCLUDED.events`

const EVENT_COLUMNS = 'e.seq, s.epoch, e.body'

interface EventRow { seq: string, epoch: string, body: AgentEvent }
const rowToEvent = (row: EventRow): StoredEvent => ({ ...row.body, seq: Number(row.seq), epoch: row.epoch })

function columns<T> (rows: T[], ...pick: Array<(row: T) => unknown>): unknown[][] {
  return pick.map((f) => rows.map(f))
}

async function inTransaction<T> (pool: PgPool, work: (client: PgPoolClient) => Promise<T>): Promise<T> {
  return await withClient(pool, async (client) => {
    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    }
  })
}

export function createPgStore (pool: PgPool): EventStore {
  return {
    kind: 'postgres',

    async append (batch) {
      return await inTransaction(pool, async (client) => {
        const inserted = await client.query<{ event_id: string }>(INSERT_EVENTS, columns(batch,
          (e) => e.event_id, (e) => e.context.user_id, (e) => e.context.thread_id, (e) => e.context.run_id,
          (e) => e.context.request_id, (e) => e.type, (e) => e.timestamp, (e) => JSON.stringify(e)))
        const isNew = new Set(inserted.rows.map((r) => r.event_id))
        const fresh = batch.filter((e) => isNew.has(e.event_id))
        if (fresh.length === 0) return { stored: [], duplicates: batch.length }

        const perUser = new Map<string, number>()
        for (const e of fresh) perUser.set(e.context.user_id, (perUser.get(e.context.user_id) ?? 0) + 1)
        const taken = await client.query<{ user_id: string, seq: string, epoch: string }>(TAKE_OFFSETS, [[...perUser.keys()], [...perUser.values()]])
        // Each user's new offsets end at the returned seq; hand them out in batch order.
        const next = new Map(taken.rows.map((r) => [r.user_id, { seq: Number(r.seq) - perUser.get(r.user_id)! + 1, epoch: r.epoch }]))
        const stored: StoredEvent[] = fresh.map((e) => {
          const position = next.get(e.context.user_id)!
          return { ...e, seq: position.seq++, epoch: position.epoch }
        })

        const runIds = [...new Set(stored.map((e) => e.context.run_id))]
        const locked = await client.query<{ run_id: string, user_id: string, status: string, ended_at: string | null }>(LOCK_RUNS, [runIds])
        const changes = planRuns(stored, new Map(locked.rows.map((r) => [r.run_id, r])))

        await client.query(SET_SEQ, [stored.map((e) => e.event_id), stored.map((e) => e.seq)])
        await client.query(UPSERT_RUNS, columns(changes,
          (c) => c.run_id, (c) => c.user_id, (c) => c.thread_id, (c) => c.status, (c) => c.ended, (c) => c.last_seq, (c) => c.events))
        return { stored, duplicates: batch.length - stored.length }
      })
    },

    async position (userId) {
      const { rows } = await pool.query<{ seq: string, epoch: string }>(
        `INSERT INTO user_streams (user_id) VALUES ($1) ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id
         RETURNING seq, epoch`, [userId])
      const row = rows[0]!
      return { seq: Number(row.seq), epoch: row.epoch } satisfies StreamPosition
    },

    async range (userId, from, to, limit) {
      const { rows } = await pool.query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events e JOIN user_streams s USING (user_id)
         WHERE e.user_id = $1 AND e.seq BETWEEN $2 AND $3 ORDER BY e.seq LIMIT $4`, [userId, from, to, limit])
      return rows.map(rowToEvent)
    },

    async earliest (userId) {
      const { rows } = await pool.query<{ seq: string | null }>('SELECT min(seq) AS seq FROM events WHERE user_id = $1', [userId])
      return rows[0]?.seq == null ? null : Number(rows[0].seq)
    },

    async threadEvents (userId, threadId, after, limit) {
      const { rows } = await pool.query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events e JOIN user_streams s USING (user_id)
         WHERE e.thread_id = $1 AND e.user_id = $2 AND e.seq > $3 ORDER BY e.seq LIMIT $4`, [threadId, userId, after, limit])
      if (rows.length > 0) return rows.map(rowToEvent)
      // Empty page: a thread the user has (nothing newer), or one that is not theirs (404).
      const owned = await pool.query('SELECT 1 FROM events WHERE thread_id = $1 AND user_id = $2 LIMIT 1', [threadId, userId])
      return owned.rowCount === 0 ? null : []
    },

    async queueRun (c) {
      await pool.query(`INSERT INTO runs (run_id, user_id, thread_id, status) VALUES ($1, $2, $3, 'queued')
        ON CONFLICT (run_id) DO NOTHING`, [c.run_id, c.user_id, c.thread_id])
    },

    async run (userId, runId) {
      const { rows } = await pool.query<RunRecord & { last_seq: string | null }>(
        `SELECT run_id, user_id, thread_id, status, started_at, ended_at, events, last_seq FROM runs
         WHERE run_id = $1 AND user_id = $2`, [runId, userId])
      const row = rows[0]
      if (!row) return null
      return {
        ...row,
        started_at: new Date(row.started_at).toISOString(),
        ended_at: row.ended_at === null ? null : new Date(row.ended_at).toISOString(),
        last_seq: row.last_seq === null ? null : Number(row.last_seq)
      }
    },

    async prune (before, batch) {
      // Small batches by the stored_at index: old rows go without long locks on the ingest path.
      const { rowCount } = await pool.query(
        'DELETE FROM events WHERE event_id IN (SELECT event_id FROM events WHERE stored_at < $1 ORDER BY stored_at LIMIT $2)',
        [before, batch])
      return rowCount ?? 0
    },

    async ping () {
      await pool.query('SELECT 1')
    }
  }
}
