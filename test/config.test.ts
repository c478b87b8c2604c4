// Config: every setting from the environment, checked once; a bad one names the variable and what was expected.
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

const prod = { NODE_ENV: 'production', REDIS_URL: 'redis://127.0.0.1:6379', DATABASE_URL: 'postgres://u@h/db', AUTH_MODE: 'remote', AUTH_SERVICE_URL: 'http://auth:8081', SERVICE_ID: 'gw', SERVICE_SECRET: 'a-real-secret-of-length', ALLOWED_ORIGINS: 'https://app.example.com' }

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
    [{ ...prod, SERVICE_SECRET: 'dev-only-service-secret' }, 'SERVICE_SECRET', /must not be the development value/],
    [{ ...prod, ALLOWED_ORIGINS: '' }, 'ALLOWED_ORIGINS', /ALLOWED_ORIGINS is required when NODE_ENV=production/],
    [{ ALLOWED_ORIGINS: 'https://a.example.com/path' }, 'ALLOWED_ORIGINS', /must list origins like https:\/\/app.example.com \(got "https:\/\/a.example.com\/path"\)/],
    [{ ALLOWED_ORIGINS: 'app.example.com' }, 'ALLOWED_ORIGINS', /must list origins/],
    [{ AUTH_MODE: 'jwt' }, 'JWT_SECRET', /JWT_SECRET or JWT_JWKS_URL is required when AUTH_MODE=jwt/],
    [{ AUTH_MODE: 'jwt', JWT_SECRET: 'short' }, 'JWT_SECRET', /JWT_SECRET must not have fewer than 32 characters/],
    [{ AUTH_MODE: 'jwt', JWT_JWKS_URL: 'ftp://keys' }, 'JWT_JWKS_URL', /JWT_JWKS_URL must match/],
    [{ ...prod, AUTH_MODE: 'jwt', JWT_SECRET: 'dev-only-secret-do-not-use-in-production-0123456789' }, 'JWT_SECRET', /must not be the development value/],
    [{ AUTH_MODE: 'oauth' }, 'AUTH_MODE', /AUTH_MODE must be one of dev, remote, jwt/],
    [{ AUTH_CACHE_TTL_S: '-1' }, 'AUTH_CACHE_TTL_S', /AUTH_CACHE_TTL_S must be >= 0/],
    [{ MAX_SOCKETS_PER_USER: '0' }, 'MAX_SOCKETS_PER_USER', /MAX_SOCKETS_PER_USER must be >= 1/]
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
  t.same(config.auth, {
    mode: 'remote',
    serviceUrl: 'http://auth:8081',
    connectTimeoutMs: 800,
    readTimeoutMs: 1600,
    cache: { ttlS: 300, max: 10000 },
    breaker: { failures: 3, resetMs: 10000 },
    blacklistCheck: false
  }, 'remote auth with the platform staging client\'s timeouts, a 300 s cache and a 3-failure breaker')
  t.same(config.session, { expiryWarningMs: 60000, expiryGraceMs: 5000, revocationTtlS: 86400, allowedOrigins: ['https://app.example.com'], maxSocketsPerUser: 10 })
  t.same(loadConfig({ ALLOWED_ORIGINS: 'https://App.Example.com, http://localhost:3000/' }).session.allowedOrigins, ['https://app.example.com', 'http://localhost:3000'], 'origins are normalized')
  const jwt = loadConfig({ ...prod, AUTH_MODE: 'jwt', JWT_JWKS_URL: 'https://auth.example.com/jwks.json' }).auth
  t.match(jwt, { mode: 'jwt', jwksUrl: 'https://auth.example.com/jwks.json', issuer: 'netra-auth-service', audience: 'netra-platform', clockSkewS: 30 })
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

t.test('docs/operations.md lists every setting', async (t) => {
  const { readFile } = await import('node:fs/promises')
  const { EnvSchema } = await import('../src/config.js')
  const doc = await readFile(new URL('../docs/operations.md', import.meta.url), 'utf8')
  for (const name of Object.keys(EnvSchema.properties)) t.ok(doc.includes(`| \`${name}\` |`), `${name} is in docs/operations.md`)
})
