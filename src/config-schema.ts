// The environment as a TypeBox schema: every setting once, with its bounds, its default and what it means.
import Type from 'typebox'

/** Seconds, milliseconds, counts: an integer setting with its bounds, default and meaning. */
const int = (minimum: number, maximum: number, value: number, description: string) =>
  Type.Integer({ minimum, maximum, default: value, description })

export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('test'), Type.Literal('production')],
    { default: 'development', description: 'production refuses dev auth, the embedded mode and the dev secrets' }),
  // Unset: loopback in the embedded mode (its dev tokens must not face a network), every interface in production mode.
  HOST: Type.Optional(Type.String({ minLength: 1, description: 'Address to listen on' })),
  PORT: int(0, 65535, 8080, 'Port to listen on (Cloud Run sets it)'),
  // Node's default is 511: a reconnect storm beyond it has its SYNs dropped, and those clients wait out the kernel's
  // retries (1, 3, 7 s). The kernel caps it at net.core.somaxconn.
  LISTEN_BACKLOG: int(1, 65535, 4096, 'Connections the kernel queues for the server before it accepts them'),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'Level of the JSON logs' }),

  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'Production mode (with DATABASE_URL): one Redis server' })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({
    pattern: '^[A-Za-z0-9_.-]+:\\d+(,[A-Za-z0-9_.-]+:\\d+)*$',
    description: 'Instead of REDIS_URL, the seed nodes of a Redis Cluster (host:port,...): sharded pub/sub'
  })),
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[A-Za-z0-9:_.-]{1,64}$', default: 'aeg:', description: 'Prefix of every Redis key and channel of this gateway' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'Production mode (with REDIS_URL): the PostgreSQL event log' })),
  DATABASE_SCHEMA: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'public', description: 'PostgreSQL schema holding the tables' }),
  DATABASE_POOL_MAX: int(1, 200, 10, 'Connections in the PostgreSQL pool'),
  MIGRATE_ON_BOOT: Type.Boolean({ default: true, description: 'Apply migrations/ at boot, under an advisory lock' }),

  AUTH_MODE: Type.Union([Type.Literal('dev'), Type.Literal('remote'), Type.Literal('jwt')],
    { default: 'dev', description: 'dev: local HS256 tokens; remote: the auth service; jwt: local verification' }),
  // Dev tokens with Redis and PostgreSQL (load tests, CI): an explicit opt-in that NODE_ENV=production refuses.
  ALLOW_DEV_AUTH: Type.Boolean({ default: false, description: 'Dev tokens in production mode' }),
  DEV_JWT_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'Secret of the dev tokens' })),
  AUTH_SERVICE_URL: Type.Optional(Type.String({ pattern: '^https?://', description: 'remote: base URL of the auth service' })),
  // The platform's staging client: connect 0.8 s, read 1.6 s (contract section 1.4).
  AUTH_CONNECT_TIMEOUT_MS: int(10, 60000, 800, 'TCP connect timeout of one call to the auth service (or a JWKS fetch)'),
  AUTH_READ_TIMEOUT_MS: int(10, 60000, 1600, 'Timeout of the answer of one call to the auth service (or a JWKS fetch)'),
  AUTH_CACHE_TTL_S: int(0, 86400, 300, 'seconds a verified token is remembered (remote mode, and jwt mode with a JWKS; HS256 alone is not cached), never past its exp or its 24 h age (0: no cache)'),
  AUTH_CACHE_MAX: int(1, 10_000_000, 10000, 'most remembered verifications (least recently used go first)'),
  AUTH_FAILURE_CACHE_S: int(0, 3600, 30, 'seconds a refused token is remembered (wherever verified tokens are cached; 0: not at all)'),
  AUTH_MAX_CONCURRENT: int(1, 128, 64, 'remote: calls to the auth service in flight at once; past it a verification is refused at once (1011)'),
  AUTH_BREAKER_FAILURES: int(1, 1000, 3, 'remote: consecutive failures that open the circuit'),
  AUTH_BREAKER_RESET_MS: int(10, 3_600_000, 10000, 'remote: how long the circuit stays open before one trial call'),
  AUTH_BLACKLIST_CHECK: Type.Boolean({ default: false, description: 'remote: also ask POST /auth/check-blacklist' }),
  // The gateway's own credentials with the auth service: never accepted by the gateway itself.
  AUTH_SERVICE_ID: Type.Optional(Type.String({ minLength: 1, description: 'remote: sent as X-Service-ID to the auth service' })),
  AUTH_SERVICE_SECRET: Type.Optional(Type.String({ minLength: 16, description: 'remote: sent as X-Service-Secret to the auth service' })),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'jwt: HS256 shared secret of the platform\'s tokens' })),
  JWT_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://', description: 'jwt: JSON Web Key Set for RS256/ES256/EdDSA tokens' })),
  JWT_ISSUER: Type.String({ minLength: 1, default: 'netra-auth-service', description: 'jwt: the iss every token must carry' }),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'netra-platform', description: 'jwt: the aud every token must carry' }),
  JWT_CLOCK_SKEW_S: int(0, 600, 30, 'dev and jwt: seconds of clock difference tolerated on exp, nbf and iat'),
  JWKS_COOLDOWN_MS: int(0, 3_600_000, 30000, 'jwt: an unknown kid refetches the key set at most this often'),
  JWKS_CACHE_MAX_AGE_MS: int(0, 86_400_000, 600000, 'jwt: the key set is refetched after this long anyway'),

  TOKEN_EXPIRY_WARNING_MS: int(0, 3_600_000, 60000, 'token_expiring goes out this long before a socket\'s token expires'),
  TOKEN_EXPIRY_GRACE_MS: int(0, 600_000, 5000, 'A socket without auth_refresh is closed (1008) this long after its token expired'),
  REVOCATION_TTL_S: int(60, 30 * 86400, 86400, 'Seconds a revocation is remembered: longer than any token lives'),
  ALLOWED_ORIGINS: Type.String({ default: '', description: 'Origins allowed to open a socket, comma-separated; empty: every origin' }),
  MAX_SOCKETS_PER_USER: int(1, 100000, 10, 'Sockets one user may hold across all instances'),
  // Per client address (as TRUST_PROXY resolves it), per window: upgrades, ticket requests, failed authentications.
  CLIENT_LIMIT_WINDOW_S: int(1, 3600, 60, 'The window of the per-address limits, in seconds'),
  CLIENT_UPGRADES_MAX: int(0, 1_000_000, 300, 'WebSocket upgrades per address and window (0: no limit)'),
  CLIENT_TICKETS_MAX: int(0, 1_000_000, 120, 'Ticket requests per address and window (0: no limit)'),
  CLIENT_AUTH_FAILURES_MAX: int(0, 1_000_000, 30, 'Failed authentications per address and window (0: no limit)'),

  SERVICE_ID: Type.Optional(Type.String({ minLength: 1, description: 'Agent backends\' X-Service-ID for ingest' })),
  SERVICE_SECRET: Type.Optional(Type.String({ minLength: 16, description: 'Agent backends\' X-Service-Secret for ingest' })),
  // The operator's credential for /api/v1/admin/*: agent backends hold SERVICE_SECRET, not this.
  ADMIN_SECRET: Type.Optional(Type.String({ minLength: 16, description: 'The operator\'s X-Admin-Secret for /api/v1/admin/*' })),
  METRICS_TOKEN: Type.Optional(Type.String({
    minLength: 16,
    description: 'Bearer token for /metrics; unset: open in development, not served under NODE_ENV=production'
  })),
  // Proxies in front of the gateway whose X-Forwarded-For is believed: a hop count, or their addresses/CIDRs.
  TRUST_PROXY: Type.Optional(Type.String({
    pattern: '^(false|[0-9]{1,2}|[0-9A-Fa-f:.]+(/[0-9]{1,3})?(,[0-9A-Fa-f:.]+(/[0-9]{1,3})?)*)$',
    description: 'Proxies whose X-Forwarded-For is believed: false, a hop count, or their addresses/CIDRs'
  })),
  // The public origin of the sockets, for ticket URLs (e.g. wss://gateway.example.com); never taken from a request.
  PUBLIC_WS_URL: Type.Optional(Type.String({ pattern: '^wss?://[^/?#@\\s]+/?$', description: 'Base of ticket URLs (ws:// or wss://, no path)' })),

  HISTORY_SIZE: int(1, 1_000_000, 2000, 'Events per user kept in the broker\'s hot history'),
  HISTORY_TTL_S: int(1, 30 * 86400, 3600, 'Seconds a user\'s hot history is kept after their last event'),
  RETENTION_HOURS: int(1, 24 * 3650, 168, 'Events older than this are deleted from PostgreSQL'),
  RETENTION_INTERVAL_S: int(0, 86400, 300, 'Seconds between retention passes (0: never)'),
  MAX_CATCHUP_BACKLOG: int(16, 1_000_000, 10000, 'Live frames held for one socket while it catches up; past it the socket is closed (1013)'),
  INGEST_STREAM_ENABLED: Type.Boolean({ default: true, description: 'Production mode: also read events from a Redis Stream' }),
  INGEST_STREAM_KEY: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'The ingest stream\'s key (default: REDIS_KEY_PREFIX + "ingest")' })),
  INGEST_STREAM_GROUP: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', default: 'gateway', description: 'The consumer group the instances share' }),
  AGENT_STEP_MS: int(0, 60_000, 400, 'Embedded mode: the reference agent\'s pause between steps'),
  WS_IDLE_HEARTBEAT_S: int(1, 3600, 30, 'Seconds of client silence after which the server sends a heartbeat frame'),
  WS_MAX_AGE_S: int(0, 86400, 3300, 'Sockets older than this are asked to reconnect (0: never)'),
  RECONNECT_JITTER_S: int(0, 300, 5, 'Clients told to reconnect spread their reconnects over this many seconds'),
  DRAIN_WINDOW_MS: int(0, 7000, 2000, 'On SIGTERM, sockets are told and closed in batches over this long'),
  MAX_SOCKETS: int(1, 1_000_000, 10000, 'Most sockets on this instance'),
  UPGRADE_RATE: int(1, 1_000_000, 500, 'Most WebSocket upgrades accepted per second'),
  WS_MESSAGE_RATE: int(1, 100_000, 20, 'Client frames per second per socket (token bucket)'),
  WS_MESSAGE_BURST: int(1, 100_000, 60, 'Burst of client frames per socket'),
  WS_MAX_BUFFERED_BYTES: int(16 * 1024, 256 * 1024 * 1024, 1024 * 1024, 'Bytes waiting for one socket past which it is a slow consumer (1013)'),
  WATCHDOG_INTERVAL_MS: int(0, 600_000, 5000, 'Production mode: pub/sub probe interval (0: no watchdog)'),
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: int(0, 60_000, 1000, 'Event-loop delay past which new requests and upgrades get 503 (0: never)'),
  INGEST_MAX_BATCH: int(1, 10000, 500, 'Most events in one ingest batch'),
  INGEST_LINGER_MS: int(0, 100, 0, 'How long a group commit of fewer than 100 events waits for more to join it (0: none)'),
  INGEST_BODY_LIMIT: int(1024, 64 * 1024 * 1024, 4 * 1024 * 1024, 'Largest ingest request body, in bytes'),
  WS_MAX_PAYLOAD: int(1024, 16 * 1024 * 1024, 64 * 1024, 'Largest WebSocket frame a client may send, in bytes'),
  HEARTBEAT_INTERVAL_S: int(1, 3600, 25, 'Protocol ping interval; also announced to clients as heartbeat_interval_s'),
  INSTANCE_ID: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'This instance\'s name in logs and /health (default: generated)' }))
})
export type Env = Type.Static<typeof EnvSchema>

// The values .env.example documents for local use; production refuses to start on them.
export const EMBEDDED_DEFAULTS = {
  DEV_JWT_SECRET: 'dev-only-secret-do-not-use-in-production-0123456789',
  SERVICE_ID: 'agent-worker',
  SERVICE_SECRET: 'dev-only-service-secret',
  ADMIN_SECRET: 'dev-only-admin-secret'
} as const
