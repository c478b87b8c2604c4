// The environment as a TypeBox schema, validated once at boot: a bad value stops the process naming the variable.
import Type from 'typebox'
import { Compile } from 'typebox/compile'
import { Value } from 'typebox/value'

export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('test'), Type.Literal('production')], { default: 'development' }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),

  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+:\\d+(,[A-Za-z0-9_.-]+:\\d+)*$' })),
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[A-Za-z0-9:_.-]{1,64}$', default: 'aeg:' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_SCHEMA: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'public' }),
  DATABASE_POOL_MAX: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  MIGRATE_ON_BOOT: Type.Boolean({ default: true }),

  AUTH_MODE: Type.Union([Type.Literal('dev'), Type.Literal('remote')], { default: 'dev' }),
  DEV_JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  AUTH_SERVICE_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  AUTH_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 60000, default: 1600 }),

  SERVICE_ID: Type.Optional(Type.String({ minLength: 1 })),
  SERVICE_SECRET: Type.Optional(Type.String({ minLength: 16 })),

  HISTORY_SIZE: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 2000 }),
  HISTORY_TTL_S: Type.Integer({ minimum: 1, maximum: 30 * 86400, default: 3600 }),
  RETENTION_HOURS: Type.Integer({ minimum: 1, maximum: 24 * 3650, default: 168 }),
  RETENTION_INTERVAL_S: Type.Integer({ minimum: 0, maximum: 86400, default: 300 }),
  MAX_CATCHUP_BACKLOG: Type.Integer({ minimum: 16, maximum: 1_000_000, default: 10000 }),
  INGEST_STREAM_ENABLED: Type.Boolean({ default: true }),
  INGEST_STREAM_KEY: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  INGEST_STREAM_GROUP: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', default: 'gateway' }),
  AGENT_STEP_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 400 }),
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
  INGEST_MAX_BATCH: Type.Integer({ minimum: 1, maximum: 10000, default: 500 }),
  INGEST_BODY_LIMIT: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, default: 4 * 1024 * 1024 }),
  WS_MAX_PAYLOAD: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 64 * 1024 }),
  HEARTBEAT_INTERVAL_S: Type.Integer({ minimum: 1, maximum: 3600, default: 25 }),
  INSTANCE_ID: Type.Optional(Type.String({ minLength: 1, maxLength: 64 }))
})
export type Env = Type.Static<typeof EnvSchema>

// The values .env.example documents for local use; production refuses to start on them.
export const EMBEDDED_DEFAULTS = {
  DEV_JWT_SECRET: 'dev-only-secret-do-not-use-in-production-0123456789',
  SERVICE_ID: 'agent-worker',
  SERVICE_SECRET: 'dev-only-service-secret'
} as const

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
  auth:
  | { mode: 'dev', secret: string }
  | { mode: 'remote', serviceUrl: string, timeoutMs: number }
  service: { id: string, secret: string }
  ingest: { maxBatch: number, bodyLimit: number, stream?: { key: string, group: string } }
  /** Hot history per user in the broker; the durable log in PostgreSQL keeps events for `retentionHours`. */
  history: { size: number, ttlMs: number, retentionHours: number, retentionIntervalS: number, maxBacklog: number }
  ws: { maxPayload: number, heartbeatIntervalS: number }
  /** Event-loop delay past which new requests and upgrades get 503 (0: never). */
  pressure: { maxEventLoopDelayMs: number }
  /** The in-process reference agent of the embedded mode. */
  agent: { stepMs: number }
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

export function parseEnv (source: NodeJS.ProcessEnv): Env {
  const raw = pick(source)
  const value = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw))
  if (!compiled.Check(value)) {
    const [first] = compiled.Errors(value)
    const variable = first ? (first.instancePath.split('/')[1] ?? 'environment') : 'environment'
    const got = raw[variable] === undefined ? '' : ` (got ${JSON.stringify(String(raw[variable]).slice(0, 40))})`
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

  let auth: Config['auth']
  if (env.AUTH_MODE === 'dev') {
    if (production) throw new ConfigError('AUTH_MODE', 'must not be "dev" when NODE_ENV=production')
    auth = { mode: 'dev', secret: env.DEV_JWT_SECRET ?? EMBEDDED_DEFAULTS.DEV_JWT_SECRET }
  } else {
    if (!env.AUTH_SERVICE_URL) throw new ConfigError('AUTH_SERVICE_URL', 'is required when AUTH_MODE=remote')
    auth = { mode: 'remote', serviceUrl: env.AUTH_SERVICE_URL.replace(/\/+$/, ''), timeoutMs: env.AUTH_TIMEOUT_MS }
  }

  if (mode === 'production' && (!env.SERVICE_ID || !env.SERVICE_SECRET)) {
    throw new ConfigError(env.SERVICE_ID ? 'SERVICE_SECRET' : 'SERVICE_ID', 'is required in production mode (agent backends authenticate with it)')
  }
  const service = { id: env.SERVICE_ID ?? EMBEDDED_DEFAULTS.SERVICE_ID, secret: env.SERVICE_SECRET ?? EMBEDDED_DEFAULTS.SERVICE_SECRET }
  if (production && service.secret === EMBEDDED_DEFAULTS.SERVICE_SECRET) {
    throw new ConfigError('SERVICE_SECRET', 'must not be the development value from .env.example when NODE_ENV=production')
  }

  return {
    env: env.NODE_ENV,
    host: env.HOST,
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
    service,
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
    ws: { maxPayload: env.WS_MAX_PAYLOAD, heartbeatIntervalS: env.HEARTBEAT_INTERVAL_S },
    pressure: { maxEventLoopDelayMs: env.PRESSURE_MAX_EVENT_LOOP_DELAY_MS },
    agent: { stepMs: env.AGENT_STEP_MS }
  }
}
