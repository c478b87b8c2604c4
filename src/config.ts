// The configuration, validated once at boot from the environment (config-schema.ts): a bad value stops the process naming the variable.
import { Compile } from 'typebox/compile'
import { Value } from 'typebox/value'
import { EMBEDDED_DEFAULTS, EnvSchema, type Env } from './config-schema.js'

export { EMBEDDED_DEFAULTS, EnvSchema, type Env }

/** Variables whose values never appear in an error message. */
const SECRETS = new Set(['SERVICE_SECRET', 'ADMIN_SECRET', 'AUTH_SERVICE_SECRET', 'JWT_SECRET', 'DEV_JWT_SECRET', 'METRICS_TOKEN'])

export interface Config {
  env: Env['NODE_ENV']
  host: string
  port: number
  logLevel: Env['LOG_LEVEL']
  /** embedded: in-process broker and memory store; production: Redis and PostgreSQL. */
  mode: 'embedded' | 'production'
  instanceId: string
  /** Either one server (`url`) or the seed nodes of a Redis Cluster (sharded pub/sub). */
  redis?: { url?: string, clusterNodes?: Array<{ host: string, port: number }>, keyPrefix: string }
  database?: { url: string, schema: string, poolMax: number, migrateOnBoot: boolean }
  keyPrefix: string
  auth: AuthConfig
  session: SessionConfig
  /** Agent backends' credential: ingest only. */
  service: { id: string, secret: string }
  /** The operator's credential: revocation (X-Admin-Secret). */
  admin: { secret: string }
  /** Bearer token for /metrics; undefined: open in development, not served under NODE_ENV=production. */
  metricsToken?: string
  /** Fastify's trustProxy: false, a hop count, or the proxies' addresses. */
  trustProxy: false | number | string[]
  /** Base of ticket URLs (ws:// or wss://, no path); undefined: the address the request arrived on. */
  publicWsUrl?: string
  /** Per client address and window (0: no limit): upgrades, ticket requests, failed authentications. */
  clientLimits: { windowMs: number, upgrades: number, tickets: number, authFailures: number }
  ingest: { maxBatch: number, bodyLimit: number, stream?: { key: string, group: string } }
  /** Hot history per user in the broker; the durable log in PostgreSQL keeps events for `retentionHours`. */
  history: { size: number, ttlMs: number, retentionHours: number, retentionIntervalS: number, maxBacklog: number }
  ws: {
    maxPayload: number
    /** Protocol ping interval; also announced to clients as heartbeat_interval_s. */
    heartbeatIntervalS: number
    idleHeartbeatS: number
    maxBufferedBytes: number
    /** Sockets older than this are asked to reconnect (0: never). */
    maxAgeS: number
    reconnectJitterS: number
    drainWindowMs: number
    /** Sockets on this instance, and upgrades accepted per second, at most. */
    maxSockets: number
    upgradeRate: number
    /** Client frames per second per socket (token bucket). */
    messageRate: number
    messageBurst: number
  }
  /** Pub/sub probe interval (production mode; 0: no watchdog). */
  watchdogIntervalMs: number
  /** Event-loop delay past which new requests and upgrades get 503 (0: never). */
  pressure: { maxEventLoopDelayMs: number }
  /** The in-process reference agent of the embedded mode. */
  agent: { stepMs: number }
}

export interface LocalJwtConfig {
  /** HS256 shared secret, for the platform's own tokens. */
  secret?: string
  /** RS256/ES256/EdDSA keys, fetched and cached from this URL. */
  jwksUrl?: string
  issuer: string
  audience: string
  clockSkewS: number
  jwksCooldownMs: number
  jwksCacheMaxAgeMs: number
  jwksTimeoutMs: number
}

export type AuthConfig =
  | { mode: 'dev', secret: string, clockSkewS: number }
  | ({ mode: 'jwt' } & LocalJwtConfig)
  | {
    mode: 'remote'
    serviceUrl: string
    /** Sent as X-Service-ID / X-Service-Secret to the auth service. */
    serviceId: string
    serviceSecret: string
    connectTimeoutMs: number
    readTimeoutMs: number
    cache: { ttlS: number, max: number, failureTtlS: number }
    /** Calls to the auth service in flight at once; past it a verification is refused at once (1011), breaker untouched. */
    maxConcurrent: number
    breaker: { failures: number, resetMs: number }
    blacklistCheck: boolean
  }

/** What applies to every socket once its user is known. */
export interface SessionConfig {
  expiryWarningMs: number
  expiryGraceMs: number
  revocationTtlS: number
  /** Origins allowed to open a socket; empty means any (refused at boot in production). */
  allowedOrigins: string[]
  maxSocketsPerUser: number
}

export class ConfigError extends Error {
  constructor (public readonly variable: string, message: string) {
    super(`invalid configuration: ${variable} ${message}`)
    this.name = 'ConfigError'
  }
}

const compiled = Compile(EnvSchema)

// Reads only the variables the schema names: empty strings count as unset.
function pick (source: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key]
    if (value !== undefined && value !== '') out[key] = value
  }
  return out
}

// Unions of literals read better as the list of allowed values than as the validator's wording.
function expected (variable: string): string | undefined {
  const schema = (EnvSchema.properties as Record<string, { anyOf?: Array<{ const?: unknown }> }>)[variable]
  const values = schema?.anyOf?.map((s) => s.const).filter((v) => v !== undefined)
  return values && values.length > 0 ? `must be one of ${values.join(', ')}` : undefined
}

/** What a boot error may echo of a value: nothing of a secret, a URL without its credentials. */
function shown (variable: string, value: string): string {
  if (SECRETS.has(variable)) return ` (got ${value.length} characters)`
  if (/_URL$/.test(variable) || /:\/\/[^/]*@/.test(value)) {
    const safe = withoutCredentials(value)
    return safe === undefined ? '' : ` (got ${JSON.stringify(safe.slice(0, 60))})`
  }
  return ` (got ${JSON.stringify(value.slice(0, 40))})`
}

function withoutCredentials (value: string): string | undefined {
  try {
    const url = new URL(value)
    if (url.username !== '' || url.password !== '') { url.username = ''; url.password = '' }
    return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`
  } catch {
    return undefined
  }
}

export function parseEnv (source: NodeJS.ProcessEnv): Env {
  const raw = pick(source)
  const value = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw))
  if (!compiled.Check(value)) {
    const [first] = compiled.Errors(value)
    const variable = first ? (first.instancePath.split('/')[1] ?? 'environment') : 'environment'
    const got = raw[variable] === undefined ? '' : shown(variable, String(raw[variable]))
    throw new ConfigError(variable, `${expected(variable) ?? first?.message ?? 'is invalid'}${got}`)
  }
  return value as Env
}

export function loadConfig (source: NodeJS.ProcessEnv = process.env): Config {
  const env = parseEnv(source)
  const production = env.NODE_ENV === 'production'

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

  // Dev tokens are minted by anyone who can reach /demo/token or knows the published secret: only the embedded
  // mode has them by default; production mode needs ALLOW_DEV_AUTH, which NODE_ENV=production refuses.
  if (env.ALLOW_DEV_AUTH && production) throw new ConfigError('ALLOW_DEV_AUTH', 'must not be set when NODE_ENV=production')
  if (mode === 'production' && env.AUTH_MODE === 'dev' && !env.ALLOW_DEV_AUTH && !production) {
    throw new ConfigError('AUTH_MODE', 'must be remote or jwt in production mode (REDIS_URL and DATABASE_URL set); ALLOW_DEV_AUTH=true opts in to dev tokens outside NODE_ENV=production')
  }
  const auth = authConfig(env, production)

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
  const allowedOrigins = parseOrigins(env.ALLOWED_ORIGINS)
  // An empty list means "any Origin": fine on a laptop, cross-site WebSocket hijacking in production.
  if (production && allowedOrigins.length === 0) {
    throw new ConfigError('ALLOWED_ORIGINS', 'is required when NODE_ENV=production (comma-separated origins allowed to open sockets, e.g. https://app.example.com)')
  }

  return {
    env: env.NODE_ENV,
    host: env.HOST ?? (mode === 'embedded' ? '127.0.0.1' : '0.0.0.0'),
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    mode,
    instanceId: env.INSTANCE_ID ?? `gw-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    redis: !hasRedis
      ? undefined
      : env.REDIS_CLUSTER_NODES
        ? {
            keyPrefix: env.REDIS_KEY_PREFIX,
            clusterNodes: env.REDIS_CLUSTER_NODES.split(',').map((n) => {
              const at = n.lastIndexOf(':')
              return { host: n.slice(0, at), port: Number(n.slice(at + 1)) }
            })
          }
        : { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX },
    database: env.DATABASE_URL
      ? { url: env.DATABASE_URL, schema: env.DATABASE_SCHEMA, poolMax: env.DATABASE_POOL_MAX, migrateOnBoot: env.MIGRATE_ON_BOOT }
      : undefined,
    keyPrefix: env.REDIS_KEY_PREFIX,
    auth,
    session: {
      expiryWarningMs: env.TOKEN_EXPIRY_WARNING_MS,
      expiryGraceMs: env.TOKEN_EXPIRY_GRACE_MS,
      revocationTtlS: env.REVOCATION_TTL_S,
      allowedOrigins,
      maxSocketsPerUser: env.MAX_SOCKETS_PER_USER
    },
    service,
    admin,
    metricsToken: env.METRICS_TOKEN,
    trustProxy: trustProxy(env.TRUST_PROXY),
    publicWsUrl: env.PUBLIC_WS_URL?.replace(/\/+$/, ''),
    clientLimits: {
      windowMs: env.CLIENT_LIMIT_WINDOW_S * 1000,
      upgrades: env.CLIENT_UPGRADES_MAX,
      tickets: env.CLIENT_TICKETS_MAX,
      authFailures: env.CLIENT_AUTH_FAILURES_MAX
    },
    ingest: {
      maxBatch: env.INGEST_MAX_BATCH,
      bodyLimit: env.INGEST_BODY_LIMIT,
      stream: mode === 'production' && env.INGEST_STREAM_ENABLED
        ? { key: env.INGEST_STREAM_KEY ?? `${env.REDIS_KEY_PREFIX}ingest`, group: env.INGEST_STREAM_GROUP }
        : undefined
    },
    history: {
      size: env.HISTORY_SIZE,
      ttlMs: env.HISTORY_TTL_S * 1000,
      retentionHours: env.RETENTION_HOURS,
      retentionIntervalS: env.RETENTION_INTERVAL_S,
      maxBacklog: env.MAX_CATCHUP_BACKLOG
    },
    ws: {
      maxPayload: env.WS_MAX_PAYLOAD,
      heartbeatIntervalS: env.HEARTBEAT_INTERVAL_S,
      idleHeartbeatS: env.WS_IDLE_HEARTBEAT_S,
      maxBufferedBytes: env.WS_MAX_BUFFERED_BYTES,
      maxAgeS: env.WS_MAX_AGE_S,
      reconnectJitterS: env.RECONNECT_JITTER_S,
      drainWindowMs: env.DRAIN_WINDOW_MS,
      maxSockets: env.MAX_SOCKETS,
      upgradeRate: env.UPGRADE_RATE,
      messageRate: env.WS_MESSAGE_RATE,
      messageBurst: env.WS_MESSAGE_BURST
    },
    pressure: { maxEventLoopDelayMs: env.PRESSURE_MAX_EVENT_LOOP_DELAY_MS },
    watchdogIntervalMs: env.WATCHDOG_INTERVAL_MS,
    agent: { stepMs: env.AGENT_STEP_MS }
  }
}

function authConfig (env: Env, production: boolean): AuthConfig {
  if (env.AUTH_MODE === 'dev') {
    if (production) throw new ConfigError('AUTH_MODE', 'must not be "dev" when NODE_ENV=production')
    return { mode: 'dev', secret: env.DEV_JWT_SECRET ?? EMBEDDED_DEFAULTS.DEV_JWT_SECRET, clockSkewS: env.JWT_CLOCK_SKEW_S }
  }
  if (env.AUTH_MODE === 'jwt') {
    if (!env.JWT_SECRET && !env.JWT_JWKS_URL) throw new ConfigError('JWT_SECRET', 'or JWT_JWKS_URL is required when AUTH_MODE=jwt')
    if (production && env.JWT_SECRET === EMBEDDED_DEFAULTS.DEV_JWT_SECRET) {
      throw new ConfigError('JWT_SECRET', 'must not be the development value from .env.example when NODE_ENV=production')
    }
    return {
      mode: 'jwt',
      secret: env.JWT_SECRET,
      jwksUrl: env.JWT_JWKS_URL,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      clockSkewS: env.JWT_CLOCK_SKEW_S,
      jwksCooldownMs: env.JWKS_COOLDOWN_MS,
      jwksCacheMaxAgeMs: env.JWKS_CACHE_MAX_AGE_MS,
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
    connectTimeoutMs: env.AUTH_CONNECT_TIMEOUT_MS,
    readTimeoutMs: env.AUTH_READ_TIMEOUT_MS,
    cache: { ttlS: env.AUTH_CACHE_TTL_S, max: env.AUTH_CACHE_MAX, failureTtlS: env.AUTH_FAILURE_CACHE_S },
    maxConcurrent: env.AUTH_MAX_CONCURRENT,
    breaker: { failures: env.AUTH_BREAKER_FAILURES, resetMs: env.AUTH_BREAKER_RESET_MS },
    blacklistCheck: env.AUTH_BLACKLIST_CHECK
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
