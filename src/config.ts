// The configuration: the environment (config-env.ts) mapped into Config, and the checks that span several settings.
import { ConfigError, parseEnv, withoutCredentials } from './config-env.js'
import { EMBEDDED_DEFAULTS, EnvSchema, type Env } from './config-schema.js'

export { ConfigError, EMBEDDED_DEFAULTS, EnvSchema, parseEnv, type Env }

/** A setting read as it is (its variable), or scaled (seconds to milliseconds). */
type Source = keyof Env | readonly [keyof Env, number]
/** Fields of Config read straight from the environment, each naming its variable: the table is the mapping. */
type Table = Readonly<Record<string, Source>>
/** The type of a table's section, derived from the schema: a field has its variable's type. */
export type Section<T extends Table> = { -readonly [K in keyof T]: T[K] extends keyof Env ? Env[T[K]] : number }

function section<T extends Table> (env: Env, table: T): Section<T> {
  const out: Record<string, unknown> = {}
  for (const [field, from] of Object.entries(table)) out[field] = typeof from === 'string' ? env[from] : (env[from[0]] as number) * from[1]
  return out as Section<T>
}

const S_TO_MS = 1000

// Where each setting goes in Config; what needs more than a read (the mode, URLs, lists, the auth union) is below.
const TABLES = {
  top: { env: 'NODE_ENV', port: 'PORT', listenBacklog: 'LISTEN_BACKLOG', logLevel: 'LOG_LEVEL', keyPrefix: 'REDIS_KEY_PREFIX', metricsToken: 'METRICS_TOKEN', watchdogIntervalMs: 'WATCHDOG_INTERVAL_MS' },
  database: { schema: 'DATABASE_SCHEMA', poolMax: 'DATABASE_POOL_MAX', migrateOnBoot: 'MIGRATE_ON_BOOT' },
  session: { expiryWarningMs: 'TOKEN_EXPIRY_WARNING_MS', expiryGraceMs: 'TOKEN_EXPIRY_GRACE_MS', revocationTtlS: 'REVOCATION_TTL_S', maxSocketsPerUser: 'MAX_SOCKETS_PER_USER' },
  clientLimits: { windowMs: ['CLIENT_LIMIT_WINDOW_S', S_TO_MS], upgrades: 'CLIENT_UPGRADES_MAX', tickets: 'CLIENT_TICKETS_MAX', authFailures: 'CLIENT_AUTH_FAILURES_MAX' },
  ingest: { maxBatch: 'INGEST_MAX_BATCH', bodyLimit: 'INGEST_BODY_LIMIT', lingerMs: 'INGEST_LINGER_MS' },
  history: {
    size: 'HISTORY_SIZE',
    ttlMs: ['HISTORY_TTL_S', S_TO_MS],
    retentionHours: 'RETENTION_HOURS',
    retentionIntervalS: 'RETENTION_INTERVAL_S',
    maxBacklog: 'MAX_CATCHUP_BACKLOG'
  },
  ws: {
    maxPayload: 'WS_MAX_PAYLOAD',
    heartbeatIntervalS: 'HEARTBEAT_INTERVAL_S',
    idleHeartbeatS: 'WS_IDLE_HEARTBEAT_S',
    maxBufferedBytes: 'WS_MAX_BUFFERED_BYTES',
    maxAgeS: 'WS_MAX_AGE_S',
    reconnectJitterS: 'RECONNECT_JITTER_S',
    drainWindowMs: 'DRAIN_WINDOW_MS',
    maxSockets: 'MAX_SOCKETS',
    upgradeRate: 'UPGRADE_RATE',
    messageRate: 'WS_MESSAGE_RATE',
    messageBurst: 'WS_MESSAGE_BURST'
  },
  pressure: { maxEventLoopDelayMs: 'PRESSURE_MAX_EVENT_LOOP_DELAY_MS' },
  agent: { stepMs: 'AGENT_STEP_MS' },
  jwt: {
    issuer: 'JWT_ISSUER',
    audience: 'JWT_AUDIENCE',
    clockSkewS: 'JWT_CLOCK_SKEW_S',
    jwksCooldownMs: 'JWKS_COOLDOWN_MS',
    jwksCacheMaxAgeMs: 'JWKS_CACHE_MAX_AGE_MS'
  },
  remote: {
    connectTimeoutMs: 'AUTH_CONNECT_TIMEOUT_MS',
    readTimeoutMs: 'AUTH_READ_TIMEOUT_MS',
    maxConcurrent: 'AUTH_MAX_CONCURRENT',
    blacklistCheck: 'AUTH_BLACKLIST_CHECK'
  },
  verifyCache: { ttlS: 'AUTH_CACHE_TTL_S', max: 'AUTH_CACHE_MAX', failureTtlS: 'AUTH_FAILURE_CACHE_S' },
  remoteBreaker: { failures: 'AUTH_BREAKER_FAILURES', resetMs: 'AUTH_BREAKER_RESET_MS' }
} as const satisfies Record<string, Table>

/** The configuration: the settings' types come from EnvSchema (config-schema.ts), their meaning from its descriptions. */
export type Config = Section<typeof TABLES.top> & {
  host: string
  /** embedded: in-process broker and memory store; production: Redis and PostgreSQL. */
  mode: 'embedded' | 'production'
  instanceId: string
  /** Either one server (`url`) or the seed nodes of a Redis Cluster (sharded pub/sub). */
  redis?: { url?: string, clusterNodes?: Array<{ host: string, port: number }>, keyPrefix: string }
  database?: Section<typeof TABLES.database> & { url: string }
  auth: AuthConfig
  session: SessionConfig
  /** Agent backends' credential: ingest only. */
  service: { id: string, secret: string }
  /** The operator's credential: revocation (X-Admin-Secret). */
  admin: { secret: string }
  /** Fastify's trustProxy: false, a hop count, or the proxies' addresses. */
  trustProxy: false | number | string[]
  /** Base of ticket URLs (ws:// or wss://, no path); undefined: the address the request arrived on. */
  publicWsUrl?: string
  clientLimits: Section<typeof TABLES.clientLimits>
  ingest: Section<typeof TABLES.ingest> & { stream?: { key: string, group: string } }
  history: Section<typeof TABLES.history>
  ws: Section<typeof TABLES.ws>
  pressure: Section<typeof TABLES.pressure>
  agent: Section<typeof TABLES.agent>
}

export type LocalJwtConfig = Section<typeof TABLES.jwt> & {
  /** HS256 shared secret, for the platform's own tokens. */
  secret?: string
  /** RS256/ES256/EdDSA keys, fetched and cached from this URL. */
  jwksUrl?: string
  jwksTimeoutMs: number
}

/** Verified tokens remembered by digest, in every mode: a reconnect (or a user's second socket) verifies nothing. */
export type VerifyCacheConfig = Section<typeof TABLES.verifyCache>

export type AuthConfig =
  | { mode: 'dev', secret: string, clockSkewS: number, cache: VerifyCacheConfig }
  | ({ mode: 'jwt', cache: VerifyCacheConfig } & LocalJwtConfig)
  | ({
    mode: 'remote'
    serviceUrl: string
    /** Sent as X-Service-ID / X-Service-Secret to the auth service. */
    serviceId: string
    serviceSecret: string
    cache: VerifyCacheConfig
    breaker: Section<typeof TABLES.remoteBreaker>
  } & Section<typeof TABLES.remote>)

/** What applies to every socket once its user is known. */
export type SessionConfig = Section<typeof TABLES.session> & {
  /** Origins allowed to open a socket; empty means any (refused at boot in production). */
  allowedOrigins: string[]
}

export function loadConfig (source: NodeJS.ProcessEnv = process.env): Config {
  const env = parseEnv(source)
  const production = env.NODE_ENV === 'production'
  const mode = modeOf(env, production)
  const auth = authConfig(env, mode, production)
  const { service, admin } = credentials(env, mode, production, auth)
  const allowedOrigins = parseOrigins(env.ALLOWED_ORIGINS)
  // An empty list means "any Origin": fine on a laptop, cross-site WebSocket hijacking in production.
  if (production && allowedOrigins.length === 0) {
    throw new ConfigError('ALLOWED_ORIGINS', 'is required when NODE_ENV=production (comma-separated origins allowed to open sockets, e.g. https://app.example.com)')
  }

  return {
    ...section(env, TABLES.top),
    host: env.HOST ?? (mode === 'embedded' ? '127.0.0.1' : '0.0.0.0'),
    mode,
    instanceId: env.INSTANCE_ID ?? `gw-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    redis: mode === 'production' ? redisConfig(env) : undefined,
    database: env.DATABASE_URL ? { url: env.DATABASE_URL, ...section(env, TABLES.database) } : undefined,
    auth,
    session: { ...section(env, TABLES.session), allowedOrigins },
    service,
    admin,
    trustProxy: trustProxy(env.TRUST_PROXY),
    publicWsUrl: env.PUBLIC_WS_URL?.replace(/\/+$/, ''),
    clientLimits: section(env, TABLES.clientLimits),
    ingest: {
      ...section(env, TABLES.ingest),
      stream: mode === 'production' && env.INGEST_STREAM_ENABLED
        ? { key: env.INGEST_STREAM_KEY ?? `${env.REDIS_KEY_PREFIX}ingest`, group: env.INGEST_STREAM_GROUP }
        : undefined
    },
    history: section(env, TABLES.history),
    ws: section(env, TABLES.ws),
    pressure: section(env, TABLES.pressure),
    agent: section(env, TABLES.agent)
  }
}

/** Production mode is Redis and PostgreSQL together; NODE_ENV=production refuses the embedded mode. */
function modeOf (env: Env, production: boolean): Config['mode'] {
  if (env.REDIS_URL && env.REDIS_CLUSTER_NODES) {
    throw new ConfigError('REDIS_CLUSTER_NODES', 'and REDIS_URL are exclusive: set one (a single server, or the seed nodes of a cluster)')
  }
  const hasRedis = Boolean(env.REDIS_URL ?? env.REDIS_CLUSTER_NODES)
  if (hasRedis !== Boolean(env.DATABASE_URL)) {
    const missing = hasRedis ? 'DATABASE_URL' : 'REDIS_URL'
    throw new ConfigError(missing, 'is required when the other of REDIS_URL and DATABASE_URL is set (production mode needs both)')
  }
  const mode = hasRedis ? 'production' : 'embedded'
  if (production && mode === 'embedded') {
    throw new ConfigError('REDIS_URL', 'is required when NODE_ENV=production (the embedded mode keeps nothing and serves one instance)')
  }
  return mode
}

/** The credentials the gateway accepts: required in production mode, never the published ones, one per holder. */
function credentials (env: Env, mode: Config['mode'], production: boolean, auth: AuthConfig): Pick<Config, 'service' | 'admin'> {
  if (mode === 'production' && (!env.SERVICE_ID || !env.SERVICE_SECRET)) {
    throw new ConfigError(env.SERVICE_ID ? 'SERVICE_SECRET' : 'SERVICE_ID', 'is required in production mode (agent backends authenticate with it)')
  }
  if (mode === 'production' && !env.ADMIN_SECRET) {
    throw new ConfigError('ADMIN_SECRET', 'is required in production mode (the operator\'s credential for /api/v1/admin/revoke, distinct from SERVICE_SECRET)')
  }
  const service = { id: env.SERVICE_ID ?? EMBEDDED_DEFAULTS.SERVICE_ID, secret: env.SERVICE_SECRET ?? EMBEDDED_DEFAULTS.SERVICE_SECRET }
  const admin = { secret: env.ADMIN_SECRET ?? EMBEDDED_DEFAULTS.ADMIN_SECRET }
  if (production && service.secret === EMBEDDED_DEFAULTS.SERVICE_SECRET) {
    throw new ConfigError('SERVICE_SECRET', 'must not be the development value from .env.example when NODE_ENV=production')
  }
  if (production && admin.secret === EMBEDDED_DEFAULTS.ADMIN_SECRET) {
    throw new ConfigError('ADMIN_SECRET', 'must not be the development value from .env.example when NODE_ENV=production')
  }
  // One credential per holder: a leaked agent backend's secret must not revoke users, and the secret the gateway
  // sends to the auth service (which that service, or anyone on its path, sees) must open nothing here.
  const accepted = [service.secret, admin.secret]
  if (admin.secret === service.secret) throw new ConfigError('ADMIN_SECRET', 'must differ from SERVICE_SECRET')
  if (auth.mode === 'remote' && accepted.includes(auth.serviceSecret)) {
    throw new ConfigError('AUTH_SERVICE_SECRET', 'must differ from SERVICE_SECRET and ADMIN_SECRET (the auth service sees it on every call)')
  }
  if (env.METRICS_TOKEN !== undefined && accepted.includes(env.METRICS_TOKEN)) {
    throw new ConfigError('METRICS_TOKEN', 'must differ from SERVICE_SECRET and ADMIN_SECRET')
  }
  return { service, admin }
}

function redisConfig (env: Env): NonNullable<Config['redis']> {
  if (!env.REDIS_CLUSTER_NODES) return { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX }
  const clusterNodes = env.REDIS_CLUSTER_NODES.split(',').map((n) => {
    const at = n.lastIndexOf(':')
    return { host: n.slice(0, at), port: Number(n.slice(at + 1)) }
  })
  return { keyPrefix: env.REDIS_KEY_PREFIX, clusterNodes }
}

function authConfig (env: Env, mode: Config['mode'], production: boolean): AuthConfig {
  // Dev tokens are minted by anyone who can reach /demo/token or knows the published secret: only the embedded
  // mode has them by default; production mode needs ALLOW_DEV_AUTH, which NODE_ENV=production refuses.
  if (env.ALLOW_DEV_AUTH && production) throw new ConfigError('ALLOW_DEV_AUTH', 'must not be set when NODE_ENV=production')
  if (mode === 'production' && env.AUTH_MODE === 'dev' && !env.ALLOW_DEV_AUTH && !production) {
    throw new ConfigError('AUTH_MODE', 'must be remote or jwt in production mode (REDIS_URL and DATABASE_URL set); ALLOW_DEV_AUTH=true opts in to dev tokens outside NODE_ENV=production')
  }
  if (env.AUTH_MODE === 'dev') {
    if (production) throw new ConfigError('AUTH_MODE', 'must not be "dev" when NODE_ENV=production')
    return { mode: 'dev', secret: env.DEV_JWT_SECRET ?? EMBEDDED_DEFAULTS.DEV_JWT_SECRET, clockSkewS: env.JWT_CLOCK_SKEW_S, cache: section(env, TABLES.verifyCache) }
  }
  if (env.AUTH_MODE === 'jwt') {
    if (!env.JWT_SECRET && !env.JWT_JWKS_URL) throw new ConfigError('JWT_SECRET', 'or JWT_JWKS_URL is required when AUTH_MODE=jwt')
    if (production && env.JWT_SECRET === EMBEDDED_DEFAULTS.DEV_JWT_SECRET) {
      throw new ConfigError('JWT_SECRET', 'must not be the development value from .env.example when NODE_ENV=production')
    }
    return {
      mode: 'jwt',
      cache: section(env, TABLES.verifyCache),
      secret: env.JWT_SECRET,
      jwksUrl: env.JWT_JWKS_URL,
      ...section(env, TABLES.jwt),
      jwksTimeoutMs: env.AUTH_CONNECT_TIMEOUT_MS + env.AUTH_READ_TIMEOUT_MS
    }
  }
  if (!env.AUTH_SERVICE_URL) throw new ConfigError('AUTH_SERVICE_URL', 'is required when AUTH_MODE=remote')
  // Every call carries a user's token and the gateway's secret: only loopback may go without TLS in production.
  if (production && !env.AUTH_SERVICE_URL.startsWith('https://') && !loopback(env.AUTH_SERVICE_URL)) {
    throw new ConfigError('AUTH_SERVICE_URL', 'must be an https:// URL when NODE_ENV=production (plain http only to a loopback address)')
  }
  if (!env.AUTH_SERVICE_ID || !env.AUTH_SERVICE_SECRET) {
    throw new ConfigError(env.AUTH_SERVICE_ID ? 'AUTH_SERVICE_SECRET' : 'AUTH_SERVICE_ID', 'is required when AUTH_MODE=remote (the gateway\'s own credentials with the auth service)')
  }
  return {
    mode: 'remote',
    serviceUrl: env.AUTH_SERVICE_URL.replace(/\/+$/, ''),
    serviceId: env.AUTH_SERVICE_ID,
    serviceSecret: env.AUTH_SERVICE_SECRET,
    ...section(env, TABLES.remote),
    cache: section(env, TABLES.verifyCache),
    breaker: section(env, TABLES.remoteBreaker)
  }
}

function loopback (url: string): boolean {
  try {
    const host = new URL(url).hostname
    return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
  } catch {
    return false
  }
}

/** TRUST_PROXY: unset or "false" trusts no one; a number trusts that many hops; else a list of addresses or CIDRs. */
function trustProxy (raw: string | undefined): Config['trustProxy'] {
  if (raw === undefined || raw === 'false' || raw === '0') return false
  if (/^\d+$/.test(raw)) return Number(raw)
  return raw.split(',')
}

/** "https://a.example, https://b.example:8443" → normalized origins; anything that is not a bare origin is refused. */
function parseOrigins (raw: string): string[] {
  const out: string[] = []
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    let origin: string
    try {
      const url = new URL(item)
      origin = url.origin
      const bare = url.pathname === '/' && url.search === '' && url.hash === '' && url.username === ''
      if (origin === 'null' || !bare) throw new Error('not an origin')
    } catch {
      throw new ConfigError('ALLOWED_ORIGINS', `must list origins like https://app.example.com (got ${JSON.stringify((withoutCredentials(item) ?? item.replace(/\/\/[^/]*@/, '//')).slice(0, 60))})`)
    }
    out.push(origin)
  }
  return out
}
