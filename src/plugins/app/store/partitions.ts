// Upkeep of the event log's daily partitions: create the days ahead, drop the days past retention.
// Hand-written rather than pg_partman: an extension is not on every managed PostgreSQL, and two statements do.
import { withClient, type PgPool, type PgPoolClient } from '../../external/postgres.js'

const DAY_MS = 86_400_000
/** Days created ahead of today, so rows land in a partition, not in the default one. */
export const DAYS_AHEAD = 2
const LOCK_ID = 0x6165_6702
const NAME = /^events_p(\d{4})(\d{2})(\d{2})$/

const dayName = (dayStart: number): string => `events_p${new Date(dayStart).toISOString().slice(0, 10).replaceAll('-', '')}`
const dayOf = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS

function dayFromName (name: string): number | undefined {
  const m = NAME.exec(name)
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : undefined
}

async function partitions (client: PgPoolClient): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname = 'events' AND p.relnamespace = current_schema()::regnamespace`)
  return rows.map((r) => r.name)
}

/** Runs `work` in a transaction if no other instance is doing upkeep right now; false if one is. */
async function exclusively (pool: PgPool, work: (client: PgPoolClient) => Promise<void>): Promise<boolean> {
  return await withClient(pool, async (client) => {
    await client.query('BEGIN')
    try {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [LOCK_ID])
      if (!rows[0]!.ok) { await client.query('ROLLBACK'); return false }
      // Attaching waits for ingest's short transactions; never for long, and ingest never waits behind us for long.
      await client.query("SET LOCAL lock_timeout = '5s'")
      await work(client)
      await client.query('COMMIT')
      return true
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    }
  })
}

/**
 * Creates the partitions of today and the next days, and of any day that rows in the default partition belong to
 * (moved out as the day is attached). Returns the days created.
 */
export async function ensurePartitions (pool: PgPool, now = Date.now()): Promise<string[]> {
  const created: string[] = []
  await exclusively(pool, async (client) => {
    const have = new Set(await partitions(client))
    const strays = await client.query<{ day: string }>("SELECT DISTINCT to_char(stored_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day FROM events_default")
    const days = new Set(strays.rows.map((r) => Date.parse(`${r.day}T00:00:00Z`)))
    for (let d = 0; d <= DAYS_AHEAD; d++) days.add(dayOf(now) + d * DAY_MS)
    for (const day of [...days].sort((a, b) => a - b)) {
      const name = dayName(day)
      if (have.has(name)) continue
      const from = new Date(day).toISOString()
      const to = new Date(day + DAY_MS).toISOString()
      await client.query(`CREATE TABLE ${name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`)
      await client.query(`WITH moved AS (DELETE FROM events_default WHERE stored_at >= $1 AND stored_at < $2 RETURNING *)
        INSERT INTO ${name} SELECT * FROM moved`, [from, to])
      await client.query(`ALTER TABLE events ATTACH PARTITION ${name} FOR VALUES FROM ('${from}') TO ('${to}')`)
      created.push(name)
    }
  })
  return created
}

/** Drops every day that ended before `before`, and deletes older rows left in the default partition. */
export async function dropPartitions (pool: PgPool, before: Date): Promise<{ partitions: number, rows: number }> {
  let dropped = 0
  let rows = 0
  await exclusively(pool, async (client) => {
    for (const name of await partitions(client)) {
      const day = dayFromName(name)
      if (day === undefined || day + DAY_MS > before.getTime()) continue
      await client.query(`ALTER TABLE events DETACH PARTITION ${name}`)
      await client.query(`DROP TABLE ${name}`)
      dropped++
    }
    rows = (await client.query('DELETE FROM events_default WHERE stored_at < $1', [before])).rowCount ?? 0
  })
  return { partitions: dropped, rows }
}
