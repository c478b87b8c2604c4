// Instances started at the same moment on an empty database all come up, on one schema migrated once.
import { readdirSync } from 'node:fs'
import t from 'tap'
import { ctx, ingest, isolate, PG_URL, pgClient } from './helper.js'
import { GatewayProcess } from './fixtures/gateway-process.js'

const INSTANCES = 3

t.test(`${INSTANCES} instances booting at once on an empty schema all come up and share it`, async (t) => {
  const iso = isolate(t)
  const admin = pgClient(t, iso.schema)
  const before = await admin.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [iso.schema])
  t.equal(before.rowCount, 0, 'the schema does not exist yet')

  // Spawned in one tick: each races the others to create the schema and to migrate it.
  const gateways = Array.from({ length: INSTANCES }, (_, i) => GatewayProcess.start(t, iso, { INSTANCE_ID: `boot-${i}` }))
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
    t.equal(res.status, 202, `instance ${i} stores`)
  }
  const stored = await admin.query('SELECT DISTINCT user_id FROM events ORDER BY user_id')
  t.same(stored.rows.map((r) => r.user_id), bases.map((_, i) => `boot-user-${i}`), 'every instance wrote to the same schema')

  for (const g of gateways) g.child.kill('SIGTERM')
  const exits = await Promise.all(gateways.map(async (g) => await g.exited))
  t.same(exits.map((e) => e.code), gateways.map(() => 0), 'and all stop cleanly')
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
