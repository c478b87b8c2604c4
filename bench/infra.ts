// The bench's own infrastructure: a private redis-server on a free port, and a PostgreSQL schema dropped at the end.
import { Redis } from 'ioredis'
import pg from 'pg'
import { freePort, spawnChild, stopChild, waitFor, type Child } from './procs.js'

export interface RedisServer { url: string, port: number, child: Child }

/** Never the shared 6379: our own process, no persistence, so nothing of the bench outlives it. */
export async function startRedis (logFile: string): Promise<RedisServer> {
  const port = await freePort()
  const child = spawnChild('redis', 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    // Slow subscribers are what the bench looks for: don't let Redis cut them off mid-run.
    '--client-output-buffer-limit', 'pubsub 0 0 0', '--maxclients', '20000'
  ], { logFile })
  const url = `redis://127.0.0.1:${port}`
  await waitFor('redis-server', async () => {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => undefined) // refused until redis-server listens: expected, not worth a log line
    try {
      await probe.connect()
      return (await probe.ping()) === 'PONG'
    } finally { probe.disconnect() }
  }, 10000, child)
  return { url, port, child }
}

export async function stopRedis (r: RedisServer): Promise<void> {
  await stopChild(r.child, 3000)
}

export interface PgSchema { url: string, schema: string, drop: () => Promise<void> }

/**
 * A schema of the bench's own; the gateways migrate it at boot. With `create: false` only the name is reserved:
 * the gateways booting together create it themselves, as they would on an empty database.
 */
export async function createSchema (url: string, schema: string, create = true): Promise<PgSchema> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    if (create) await client.query(`CREATE SCHEMA ${schema}`)
  } finally { await client.end() }
  return {
    url,
    schema,
    drop: async () => {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
      try {
        await c.connect()
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      } finally { await c.end().catch(() => undefined) }
    }
  }
}

/** Empties the event log between ingest runs, so one run's index size doesn't slow the next. */
export async function truncateEvents (url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  await client.connect()
  try {
    await client.query(`TRUNCATE ${schema}.events`)
  } catch { /* not migrated yet: nothing to empty */ } finally { await client.end() }
}

/**
 * The PostgreSQL backends serving the gateways, found by the application_name the gateways' pools announce
 * (PGAPPNAME): their CPU is the database's share of the ingest scenario's cost.
 */
export async function backendPids (url: string, appNames: string[]): Promise<number[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  await client.connect()
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = ANY($1::text[])', [appNames])
    return rows.map((r) => r.pid)
  } finally { await client.end() }
}

async function withPg<T> (url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  await client.connect()
  try { return await work(client) } finally { await client.end().catch(() => undefined) }
}

/** The users' stream rows (last offset handed out, epoch) as the gateways' ingest left them. */
export async function readStreams (url: string, schema: string): Promise<Map<string, { seq: number, epoch: string }>> {
  return await withPg(url, async (client) => {
    const { rows } = await client.query<{ user_id: string, seq: string, epoch: string }>(`SELECT user_id, seq, epoch FROM ${schema}.user_streams`)
    return new Map(rows.map((r) => [r.user_id, { seq: Number(r.seq), epoch: r.epoch }]))
  })
}

/**
 * Records the offsets a fanout round published as handed out, as ingest would have: an ingest round that follows
 * continues after them instead of reusing offsets the sockets have already seen (and would drop as old).
 */
export async function saveStreams (url: string, schema: string, streams: Array<{ user: string, seq: number, epoch: string }>): Promise<void> {
  await withPg(url, async (client) => {
    await client.query(`INSERT INTO ${schema}.user_streams (user_id, seq, epoch)
      SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
      ON CONFLICT (user_id) DO UPDATE SET seq = GREATEST(${schema}.user_streams.seq, EXCLUDED.seq)`,
    [streams.map((s) => s.user), streams.map((s) => s.seq), streams.map((s) => s.epoch)])
  })
}

/** Events stored with `stored_at` in [from, to) (wall-clock ms): the denominator of CPU per stored event. */
export async function storedBetween (url: string, schema: string, fromMs: number, toMs: number): Promise<number> {
  return await withPg(url, async (client) => {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.events WHERE stored_at >= to_timestamp($1) AND stored_at < to_timestamp($2)`, [fromMs / 1000, toMs / 1000])
    return Number(rows[0]?.n ?? 0)
  })
}
