// PostgreSQL event log: one INSERT per batch (atomic), idempotent by event_id.
import type { PgPool } from '../../external/postgres.js'
import type { EventStore } from './store.js'

const INSERT = `
INSERT INTO events (event_id, user_id, thread_id, run_id, request_id, type, occurred_at, body)
SELECT event_id, user_id, thread_id, run_id, request_id, type, to_timestamp(ts), body
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::jsonb[])
  AS t(event_id, user_id, thread_id, run_id, request_id, type, ts, body)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id`

export function createPgStore (pool: PgPool): EventStore {
  return {
    kind: 'postgres',
    async append (batch) {
      const cols: unknown[][] = [[], [], [], [], [], [], [], []]
      for (const e of batch) {
        const c = e.context
        const row = [e.event_id, c.user_id, c.thread_id, c.run_id, c.request_id, e.type, e.timestamp, JSON.stringify(e)]
        row.forEach((v, i) => cols[i]!.push(v))
      }
      const { rows } = await pool.query<{ event_id: string }>(INSERT, cols)
      const stored = new Set(rows.map((r) => r.event_id))
      return batch.filter((e) => stored.has(e.event_id))
    },
    async ping () {
      await pool.query('SELECT 1')
    }
  }
}
