// The token and migrate commands, run as a user would run them.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { createDevVerifier } from '../src/plugins/app/auth/dev-verifier.js'
import { DEV_SECRET, isolate, PG_URL, pgClient } from './helper.js'

const run = promisify(execFile)

t.test('npm run -s token -- alice prints a verifiable token and nothing else', async (t) => {
  const { stdout } = await run('npm', ['run', '-s', 'token', '--', 'alice'], { env: { ...process.env, DEV_JWT_SECRET: '' } })
  t.match(stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one line: the JWT')
  const identity = await createDevVerifier(DEV_SECRET).verify(stdout.trim())
  t.equal(identity.userId, 'alice')
  const failed = await run('npm', ['run', '-s', 'token', '--'], { env: process.env }).catch((err: { code: number, stdout: string }) => err)
  t.equal((failed as { code: number }).code, 2, 'no user: usage and exit 2')
  t.equal((failed as { stdout: string }).stdout, '', 'nothing on stdout')
})

t.test('npm run migrate creates the tables in the configured schema, and is idempotent', async (t) => {
  const iso = isolate(t)
  const env = { ...process.env, DATABASE_URL: PG_URL, REDIS_URL: 'redis://127.0.0.1:6379', DATABASE_SCHEMA: iso.schema }
  const first = await run('npm', ['run', '-s', 'migrate'], { env })
  t.match(first.stdout, new RegExp(`migrated schema ${iso.schema} from version 0 to \\d+`))
  const second = await run('npm', ['run', '-s', 'migrate'], { env })
  t.match(second.stdout, /from version (\d+) to \1/)
  const { rows } = await pgClient(t, iso.schema).query('SELECT count(*)::int AS n FROM events')
  t.equal(rows[0].n, 0)
})
