// The environment as a TypeBox schema: every setting, its default and its bounds, and the embedded defaults.
import Type from 'typebox'

export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('test'), Type.Literal('production')], { default: 'development' }),
  // Unset: loopback in the embedded mode (its dev tokens must not face a network), every interface in production mode.
  HOST: Type.Optional(Type.String({ minLength: 1 })),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),

  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+:\\d+(,[A-Za-z0-9_.-]+:\\d+)*$' })),
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[A-Za-z0-9:_.-]{1,64}$', default: 'aeg:' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_SCHEMA: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'public' }),
  DATABASE_POOL_MAX: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  MIGRATE_ON_BOOT: Type.Boolean({ default: true }),

  AUTH_MODE: Type.Union([Type.Literal('dev'), Type.Literal('remote'), Type.Literal('jwt')], { default: 'dev' }),
  // Dev tokens with Redis and PostgreSQL (load tests, CI): an explicit opt-in that NODE_ENV=production refuses.
  ALLOW_DEV_AUTH: Type.Boolean({ default: false }),
  DEV_JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  AUTH_SERVICE_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  // The platform's staging client: connect 0.8 s, read 1.6 s (contract section 1.4).
  AUTH_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60000, default: 800 }),
  AUTH_READ_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60000, default: 1600 }),
  AUTH_CACHE_TTL_S: Type.Integer({ minimum: 0, maximum: 86400, default: 300 }),
  AUTH_CACHE_MAX: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 10000 }),
  AUTH_FAILURE_CACHE_S: Type.Integer({ minimum: 0, maximum: 3600, default: 30 }),
  AUTH_MAX_CONCURRENT: Type.Integer({ minimum: 1, maximum: 128, default: 64 }),
  AUTH_BREAKER_FAILURES: Type.Integer({ minimum: 1, maximum: 1000, default: 3 }),
  AUTH_BREAKER_RESET_MS: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 10000 }),
  AUTH_BLACKLIST_CHECK: Type.Boolean({ default: false }),
  // The gateway's own credentials with the auth service: never accepted by the gateway itself.
  AUTH_SERVICE_ID: Type.Optional(Type.String({ minLength: 1 })),
  AUTH_SERVICE_SECRET: Type.Optional(Type.String({ minLength: 16 })),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  JWT_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  JWT_ISSUER: Type.String({ minLength: 1, default: 'netra-auth-service' }),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'netra-platform' }),
  JWT_CLOCK_SKEW_S: Type.Integer({ minimum: 0, maximum: 600, default: 30 }),
  JWKS_COOLDOWN_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 30000 }),
  JWKS_CACHE_MAX_AGE_MS: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 600000 }),

  TOKEN_EXPIRY_WARNING_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 60000 }),
  TOKEN_EXPIRY_GRACE_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 5000 }),
  REVOCATION_TTL_S: Type.Integer({ minimum: 60, maximum: 30 * 86400, default: 86400 }),
  ALLOWED_ORIGINS: Type.String({ default: '' }),
  MAX_SOCKETS_PER_USER: Type.Integer({ minimum: 1, maximum: 100000, default: 10 }),
  // Per client address (as TRUST_PROXY resolves it), per window: upgrades, ticket requests, failed authentications.
  CLIENT_LIMIT_WINDOW_S: Type.Integer({ minimum: 1, maximum: 3600, default: 60 }),
  CLIENT_UPGRADES_MAX: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 300 }),
  CLIENT_TICKETS_MAX: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 120 }),
  CLIENT_AUTH_FAILURES_MAX: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 30 }),

  SERVICE_ID: Type.Optional(Type.String({ minLength: 1 })),
  SERVICE_SECRET: Type.Optional(Type.String({ minLength: 16 })),
  // The operator's credential for /api/v1/admin/*: agent backends hold SERVICE_SECRET, not this.
  ADMIN_SECRET: Type.Optional(Type.String({ minLength: 16 })),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  // Proxies in front of the gateway whose X-Forwarded-For is believed: a hop count, or their addresses/CIDRs.
  TRUST_PROXY: Type.Optional(Type.String({ pattern: '^(false|[0-9]{1,2}|[0-9A-Fa-f:.]+(/[0-9]{1,3})?(,[0-9A-Fa-f:.]+(/[0-9]{1,3})?)*)$' })),
  // The public origin of the sockets, for ticket URLs (e.g. wss://gateway.example.com); never taken from a request.
  PUBLIC_WS_URL: Type.Optional(Type.String({ pattern: '^wss?://[^/?#@\\s]+/?$' })),

  HISTORY_SIZE: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 2000 }),
  HISTORY_TTL_S: Type.Integer({ minimum: 1, maximum: 30 * 86400, default: 3600 }),
  RETENTION_HOURS: Type.Integer({ minimum: 1, maximum: 24 * 3650, default: 168 }),
  RETENTION_INTERVAL_S: Type.Integer({ minimum: 0, maximum: 86400, default: 300 }),
  MAX_CATCHUP_BACKLOG: Type.Integer({ minimum: 16, maximum: 1_000_000, default: 10000 }),
  INGEST_STREAM_ENABLED: Type.Boolean({ default: true }),
  INGEST_STREAM_KEY: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  INGEST_STREAM_GROUP: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', default: 'gateway' }),
  AGENT_STEP_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 400 }),
  WS_IDLE_HEARTBEAT_S: Type.Integer({ minimum: 1, maximum: 3600, default: 30 }),
  WS_MAX_AGE_S: Type.Integer({ minimum: 0, maximum: 86400, default: 3300 }),
  RECONNECT_JITTER_S: Type.Integer({ minimum: 0, maximum: 300, default: 5 }),
  DRAIN_WINDOW_MS: Type.Integer({ minimum: 0, maximum: 7000, default: 2000 }),
  MAX_SOCKETS: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10000 }),
  UPGRADE_RATE: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 500 }),
  WS_MESSAGE_RATE: Type.Integer({ minimum: 1, maximum: 100_000, default: 20 }),
  WS_MESSAGE_BURST: Type.Integer({ minimum: 1, maximum: 100_000, default: 60 }),
  WS_MAX_BUFFERED_BYTES: Type.Integer({ minimum: 16 * 1024, maximum: 256 * 1024 * 1024, default: 1024 * 1024 }),
  WATCHDOG_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 5000 }),
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
  SERVICE_SECRET: 'dev-only-service-secret',
  ADMIN_SECRET: 'dev-only-admin-secret'
} as const
