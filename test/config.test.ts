// Config: every setting from the environment, checked once; a bad one names the variable and what was expected.
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

const prod = Object.fromEntries([
  ['NODE_ENV', 'production'], ['REDIS_URL', 'redis://127.0.0.1:6379'], ['DATABASE_URL', 'postgres://u@h/db'], ['AUTH_MODE', 'remote'],
  ['AUTH_SERVICE_URL', 'https://auth:8081'], ['AUTH_SERVICE_ID', 'gateway'], ['AUTH_SERVICE_SECRET', 'the-gateway-secret-at-the-auth-service'],
  ['SERVICE_ID', 'gw'], ['SERVICE_SECRET', 'a-real-secret-of-length'], ['ADMIN_SECRET', 'an-operator-secret-of-length'],
  ['ALLOWED_ORIGINS', 'https://app.example.com']
]) as Record<string, string>
/** Production mode (Redis and PostgreSQL) without NODE_ENV=production. */
const prodMode = { ...prod, NODE_ENV: 'development' }

t.test('bad values stop the boot naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, string, RegExp]> = [
    [{ PORT: 'eighty' }, 'PORT', /PORT must be integer \(got "eighty"\)/],
    [{ PORT: '70000' }, 'PORT', /PORT must be <= 65535/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /LOG_LEVEL must be one of fatal, error/],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL', /REDIS_URL/],
    [{ REDIS_URL: 'redis://x' }, 'DATABASE_URL', /DATABASE_URL is required/],
    [{ AUTH_MODE: 'remote' }, 'AUTH_SERVICE_URL', /AUTH_SERVICE_URL is required when AUTH_MODE=remote/],
    [{ AUTH_MODE: 'remote', AUTH_SERVICE_URL: 'http://127.0.0.1:1' }, 'AUTH_SERVICE_ID', /AUTH_SERVICE_ID is required when AUTH_MODE=remote/],
    [{ INGEST_MAX_BATCH: '0' }, 'INGEST_MAX_BATCH', /INGEST_MAX_BATCH must be >= 1/],
    [{ DATABASE_SCHEMA: 'Robert\'); DROP' }, 'DATABASE_SCHEMA', /DATABASE_SCHEMA must match/],
    [{ ...prod, SERVICE_SECRET: undefined as unknown as string }, 'SERVICE_SECRET', /SERVICE_SECRET is required in production mode/],
    [{ ...prod, AUTH_MODE: 'dev' }, 'AUTH_MODE', /AUTH_MODE must not be "dev" when NODE_ENV=production/],
    [{ ...prod, ADMIN_SECRET: undefined as unknown as string }, 'ADMIN_SECRET', /ADMIN_SECRET is required in production mode/],
    [{ ...prod, ADMIN_SECRET: prod.SERVICE_SECRET! }, 'ADMIN_SECRET', /must differ from SERVICE_SECRET/],
    [{ ...prod, AUTH_SERVICE_SECRET: prod.SERVICE_SECRET! }, 'AUTH_SERVICE_SECRET', /must differ from SERVICE_SECRET and ADMIN_SECRET/],
    [{ ...prod, AUTH_SERVICE_SECRET: prod.ADMIN_SECRET! }, 'AUTH_SERVICE_SECRET', /must differ/],
    [{ ...prod, AUTH_SERVICE_URL: 'http://auth:8081' }, 'AUTH_SERVICE_URL', /must be an https:\/\/ URL when NODE_ENV=production/],
    [{ ...prodMode, AUTH_MODE: 'dev' }, 'AUTH_MODE', /must be remote or jwt in production mode .*ALLOW_DEV_AUTH=true opts in/],
    [{ ...prodMode, AUTH_MODE: undefined as unknown as string }, 'AUTH_MODE', /must be remote or jwt in production mode/],
    [{ ...prod, AUTH_MODE: 'jwt', JWT_SECRET: 'x'.repeat(32), ALLOW_DEV_AUTH: 'true' }, 'ALLOW_DEV_AUTH', /must not be set when NODE_ENV=production/],
    [{ TRUST_PROXY: 'true' }, 'TRUST_PROXY', /TRUST_PROXY must match/],
    [{ PUBLIC_WS_URL: 'https://gw.example.com' }, 'PUBLIC_WS_URL', /PUBLIC_WS_URL must match/],
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
    serviceUrl: 'https://auth:8081',
    serviceId: 'gateway',
    serviceSecret: 'the-gateway-secret-at-the-auth-service',
    connectTimeoutMs: 800,
    readTimeoutMs: 1600,
    cache: { ttlS: 300, max: 10000, failureTtlS: 30 },
    maxConcurrent: 64,
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

t.test('a boot error never echoes a secret or a URL\'s password', async (t) => {
  const secrets: Array<[Record<string, string>, string]> = [
    [{ SERVICE_SECRET: 'hunter2-short' }, 'hunter2-short'],
    [{ ADMIN_SECRET: 'hunter3-short' }, 'hunter3-short'],
    [{ AUTH_SERVICE_SECRET: 'hunter4-short' }, 'hunter4-short'],
    [{ AUTH_MODE: 'jwt', JWT_SECRET: 'hunter5-short' }, 'hunter5-short'],
    [{ DEV_JWT_SECRET: 'hunter6-short' }, 'hunter6-short'],
    [{ METRICS_TOKEN: 'hunter7' }, 'hunter7'],
    [{ DATABASE_URL: 'mysql://app:pa55word@db/x' }, 'pa55word'],
    [{ REDIS_URL: 'http://app:pa55word@cache' }, 'pa55word'],
    [{ AUTH_MODE: 'remote', AUTH_SERVICE_URL: 'ftp://app:pa55word@auth' }, 'pa55word'],
    [{ ALLOWED_ORIGINS: 'https://app:pa55word@a.example.com' }, 'pa55word']
  ]
  for (const [env, secret] of secrets) {
    const err = t.throws(() => loadConfig(env), ConfigError) as ConfigError
    t.equal(err.variable, Object.keys(env).at(-1), `names ${err.variable}`)
    t.notMatch(err.message, secret, `${err.variable}: the value stays out of the message`)
  }
  const short = t.throws(() => loadConfig({ SERVICE_SECRET: 'hunter2-short' })) as ConfigError
  t.match(short.message, /SERVICE_SECRET must not have fewer than 16 characters \(got 13 characters\)/, 'says what was expected')
})

t.test('the mode decides, not NODE_ENV: loopback and dev auth only in the embedded mode', async (t) => {
  t.equal(loadConfig({}).host, '127.0.0.1', 'the embedded default listens on loopback')
  t.equal(loadConfig({ HOST: '0.0.0.0' }).host, '0.0.0.0', 'unless HOST says otherwise')
  t.equal(loadConfig(prod).host, '0.0.0.0', 'production mode listens on every interface')
  t.equal(loadConfig({ ...prodMode, AUTH_MODE: 'dev', ALLOW_DEV_AUTH: 'true' }).auth.mode, 'dev', 'the explicit opt-in')
  t.equal(loadConfig({}).trustProxy, false, 'no proxy is trusted by default')
  t.equal(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2)
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8,127.0.0.1' }).trustProxy, ['10.0.0.0/8', '127.0.0.1'])
  t.equal(loadConfig({ ...prod, AUTH_SERVICE_URL: 'http://127.0.0.1:8081' }).auth.mode, 'remote', 'plain http to loopback is allowed')
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

t.test('every setting says what it means in its schema, the one place it is written', async (t) => {
  const { EnvSchema } = await import('../src/config.js')
  for (const [name, schema] of Object.entries(EnvSchema.properties)) {
    t.match((schema as { description?: string }).description, /\w{3}/, `${name} has a description`)
  }
})
