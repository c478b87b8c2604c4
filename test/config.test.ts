// Config: every setting from the environment, checked once; a bad one names the variable and what was expected.
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

const prod = { NODE_ENV: 'production', REDIS_URL: 'redis://127.0.0.1:6379', DATABASE_URL: 'postgres://u@h/db', AUTH_MODE: 'remote', AUTH_SERVICE_URL: 'http://auth:8081', SERVICE_ID: 'gw', SERVICE_SECRET: 'a-real-secret-of-length' }

t.test('bad values stop the boot naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ PORT: 'eighty' }, 'PORT', /PORT must be integer \(got "eighty"\)/],
    [{ PORT: '70000' }, 'PORT', /PORT must be <= 65535/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /LOG_LEVEL must be one of fatal, error/],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL', /REDIS_URL/],
    [{ REDIS_URL: 'redis://x' }, 'DATABASE_URL', /DATABASE_URL is required/],
    [{ AUTH_MODE: 'remote' }, 'AUTH_SERVICE_URL', /AUTH_SERVICE_URL is required when AUTH_MODE=remote/],
    [{ INGEST_MAX_BATCH: '0' }, 'INGEST_MAX_BATCH', /INGEST_MAX_BATCH must be >= 1/],
    [{ DATABASE_SCHEMA: 'Robert\'); DROP' }, 'DATABASE_SCHEMA', /DATABASE_SCHEMA must match/],
    [{ ...prod, SERVICE_SECRET: undefined as unknown as string }, 'SERVICE_SECRET', /SERVICE_SECRET is required in production mode/],
    [{ ...prod, AUTH_MODE: 'dev' }, 'AUTH_MODE', /AUTH_MODE must not be "dev" when NODE_ENV=production/],
    [{ ...prod, REDIS_URL: '', DATABASE_URL: '' }, 'REDIS_URL', /REDIS_URL is required when NODE_ENV=production/],
    [{ ...prod, SERVICE_SECRET: 'dev-only-service-secret' }, 'SERVICE_SECRET', /must not be the development value/]
  ]
  for (const [env, variable, message] of cases) {
    const err = t.throws(() => loadConfig(env), ConfigError) as ConfigError
    t.equal(err.variable, variable, `${JSON.stringify(env).slice(0, 60)} names ${variable}`)
    t.match(err.message, message)
  }
})

t.test('a complete production environment loads', async (t) => {
  const config = loadConfig(prod)
  t.equal(config.mode, 'production')
  t.same(config.auth, { mode: 'remote', serviceUrl: 'http://auth:8081', timeoutMs: 1600 })
  t.equal(config.database?.schema, 'public')
  t.equal(config.redis?.keyPrefix, 'aeg:')
  t.equal(loadConfig({ ...prod, MIGRATE_ON_BOOT: 'false', PORT: '' }).database?.migrateOnBoot, false, 'booleans and empty values are read as expected')
})

t.test('.env.example documents every setting, each under a comment', async (t) => {
  const { readFile } = await import('node:fs/promises')
  const { EnvSchema } = await import('../src/config.js')
  const lines = (await readFile(new URL('../.env.example', import.meta.url), 'utf8')).split('\n')
  for (const name of Object.keys(EnvSchema.properties)) {
    const at = lines.findIndex((l) => new RegExp(`^#? ?${name}=`).test(l))
    t.ok(at > 0, `${name} is in .env.example`)
    // The nearest line above that is not itself a setting must be a comment (one comment may cover a pair).
    let above = at - 1
    while (above > 0 && /^#? ?[A-Z_]+=/.test(lines[above]!)) above--
    t.match(lines[above], /^# /, `${name} has a comment`)
  }
})
