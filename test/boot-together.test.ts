// Instances started at the same moment on an empty database all come up, on one schema migrated once.
import { readdirSync } from 'node:fs'
import t from 'tap'
import pg from 'pg'
import { ensureSchema } from '../src/plugins/external/postgres.js'
import { ctx, ingest, isolate, PG_URL, pgClient } from './helper.js'
import { GatewayProcess } from './fixtures/gateway-process.js'
import { startBarrier } from './fixtures/start-barrier.js'

const INSTANCES = 3

t.test(`${INSTANCES} instances booting at once on an empty schema all come up and share it`, async (t) => {
  const iso = isolate(t)
  const admin = pgClient(t, iso.schema)
  const before = await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [iso.schema])
  t.equal(before.rowCount, 0, 'the schema does not exist yet')

  // Each instance's first statement is held until all have one, then they reach PostgreSQL in the same tick and
  // race each other to create the schema and to migrate it.
  const barrier = await startBarrier(t, PG_URL, INSTANCES)
  const gateways = Array.from({ length: INSTANCES }, (_, i) => GatewayProcess.start(t, iso, {
    INSTANCE_ID: `boot-${i}`,
    DATABASE_URL: barrier.url,
    // Three processes compiling TypeScript on a shared machine stall their event loops: load shedding is not under test.
    PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0'
  }))
  await barrier.opened
  const bases = await Promise.all(gateways.map(async (g) => await g.listening()))
  t.equal(bases.length, INSTANCES, 'every instance is listening')
  for (const g of gateways) t.equal(g.log.filter((l) => /cannot start|duplicate key/.test(l)).length, 0, 'and none logged a failed boot')

  for (const [i, base] of bases.entries()) {
    const ready = await fetch(`${base.http}/health/ready`)
    t.equal(ready.status, 200, `instance ${i} is ready`)
  }

  const migrations = readdirSync(new URL('../migrations/', import.meta.url)).filter((f) => /^\d+\.do\..*\.sql$/.test(f))
  const versions = await admin.query('SELECT version FROM schemaversion WHERE version > 0 ORDER BY version')
  t.same(versions.rows.map((r) => Number(r.version)), migrations.map((f) => Number(f.split('.')[0])).sort((a, b) => a - b),
    'each migration applied once')
  t.equal((await admin.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [iso.schema])).rows[0].n, 1, 'one schema')

  // One event through each instance: all three land in the one log.
  for (const [i, base] of bases.entries()) {
    const res = await ingest(base.http, { type: 'agent_thinking', context: ctx(`boot-user-${i}`), reasoning: 'up' })
    t.equal(res.status, 202, `instance ${i} stores (${JSON.stringify(res.body)})`)
  }
  const stored = await admin.query('SELECT DISTINCT user_id FROM events ORDER BY user_id')
  t.same(stored.rows.map((r) => r.user_id), bases.map((_, i) => `boot-user-${i}`), 'every instance wrote to the same schema')

  for (const g of gateways) g.child.kill('SIGTERM')
  const exits = await Promise.all(gateways.map(async (g) => await g.exited))
  t.same(exits.map((e) => e.code), gateways.map(() => 0), 'and all stop cleanly')
})

t.test('creating the schema tolerates a concurrent create outside the lock (a migration CLI, an older instance)', async (t) => {
  const iso = isolate(t)
  const sessions = Array.from({ length: 8 }, () => new pg.Client({ connectionString: PG_URL }))
  await Promise.all(sessions.map(async (c) => await c.connect()))
  t.teardown(async () => { await Promise.all(sessions.map(async (c) => await c.end())) })
  // Without IF NOT EXISTS's check and insert being atomic, most of these lose the race on pg_namespace's index.
  const results = await Promise.allSettled(sessions.map(async (c) => await ensureSchema(c, iso.schema)))
  t.same(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), [], 'every session succeeds')
  const raw = await Promise.allSettled(sessions.map(async (c) => await c.query(`CREATE SCHEMA IF NOT EXISTS ${iso.schema}_raw`)))
  await sessions[0]!.query(`DROP SCHEMA IF EXISTS ${iso.schema}_raw`)
  t.comment(`the bare statement, for comparison: ${raw.filter((r) => r.status === 'rejected').length} of ${raw.length} failed`)
})

t.test('an unreachable PostgreSQL stops the boot with one clear line that hides the password', async (t) => {
  const iso = isolate(t)
  const url = new URL(PG_URL)
  url.password = 'hunter2-not-to-be-printed'
  url.port = '1'
  const gateway = GatewayProcess.start(t, iso, { DATABASE_URL: url.toString() })
  const { code } = await gateway.exited
  t.equal(code, 1, 'exit code 1')
  const line = await gateway.line(/cannot start/)
  t.match(line, /^cannot start: cannot reach PostgreSQL at postgres:\/\/[^:]+:\*\*\*@127\.0\.0\.1:1\/\w+ \(DATABASE_URL\): .*ECONNREFUSED/, 'names what and where')
  t.notMatch(gateway.log.join('\n'), /hunter2/, 'the password is never printed')
})
