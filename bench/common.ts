// What the bench's processes share: stack names, user naming, the event-to-user mapping, clocks and IPC shapes.

export type Stack = 'gateway' | 'baseline' | 'socketio'
/**
 * fanout: wire frames published straight into Redis. The ingest scenarios go through the gateway's durable path:
 * HTTP batches of --batch events, HTTP one event per request from 64 producers, or the Redis ingest stream (XADD).
 */
export type IngestScenario = 'ingest-batch' | 'ingest-single' | 'ingest-stream'
export type Scenario = 'fanout' | IngestScenario
export const STACKS: readonly Stack[] = ['gateway', 'baseline', 'socketio']
export const INGEST_SCENARIOS: readonly IngestScenario[] = ['ingest-batch', 'ingest-single', 'ingest-stream']
export const SCENARIOS: readonly Scenario[] = ['fanout', ...INGEST_SCENARIOS]
export function isIngest (scenario: Scenario): scenario is IngestScenario {
  return scenario !== 'fanout'
}

/** Every stack's user channel has the gateway's shape, so Redis does the same work for each. */
export const KEY_PREFIX = 'bench:'
/** The text of every bench event: frames of a real step's size. */
export const REASONING = 'Comparing this month\'s compute spend with the last three months to find the services that grew fastest'
export function channelOf (userId: string): string {
  return `${KEY_PREFIX}user:{${userId}}`
}

/** Long enough to pass the gateway's placeholder rules; zero-padded so every frame has the same size. */
export function userName (index: number): string {
  return `bench_user_${String(index).padStart(6, '0')}`
}

/**
 * The user of event `seq`: a hash, not a PRNG stream, so the publisher and every load generator agree on it
 * without exchanging the sequence (murmur3's finalizer spreads consecutive integers evenly).
 */
export function userOf (seq: number, users: number, seed: number): number {
  let h = (seq ^ seed) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  h = (h ^ (h >>> 16)) >>> 0
  return h % users
}

/**
 * Microseconds on CLOCK_MONOTONIC. Linux shares that clock between processes, so a timestamp taken in the
 * publisher can be subtracted from one taken in a load generator; wall-clock time could step between the two.
 */
export function nowUs (): number {
  return Number(process.hrtime.bigint()) / 1000
}

/** The marker embedded in every event's `data`: found with indexOf, so the load generator never parses JSON. */
export const MARK = '"bench":"'
export function marker (seq: number, sentUs: number): string {
  return `${seq}:${Math.round(sentUs)}`
}

/** Which server each socket of a user goes to. "mixed": half the users on one server, half split across both. */
export type Placement = 'mixed' | 'same' | 'split'
export function serverOf (user: number, socket: number, placement: Placement): number {
  if (placement === 'same') return user % 2
  if (placement === 'split') return socket % 2
  return socket === 0 ? user % 2 : (user >> 1) % 2
}

export interface ServerTarget {
  /** ws://host:port/path for gateway and baseline; http://host:port for Socket.IO (the client adds its path). */
  url: string
}

/** Parent → load generator. */
export type LoadgenCommand =
  | { cmd: 'connect', stack: Stack, servers: ServerTarget[], sockets: Array<[user: number, server: number]>, localAddresses: string[], devSecret: string, concurrency: number, timeoutMs: number }
  | { cmd: 'window', startUs: number, endUs: number }
  | { cmd: 'count' }
  | { cmd: 'reset' }
  | { cmd: 'finish', sent: number, seed: number, users: number, excluded: number[] }
  /** Drop these sockets (indexes into the connect command's list) at once and resume them; concurrency 0 = all at once. */
  | { cmd: 'storm', slots: number[], timeoutMs: number, concurrency: number }
  | { cmd: 'close' }

/** Load generator → parent. */
export type LoadgenReply =
  | { kind: 'connected', ok: number, failed: number, firstError?: string, elapsedMs: number, positions: StreamPositions }
  | { kind: 'count', received: number, inWindow: number, closed: number }
  | { kind: 'result', received: number, inWindow: number, expected: number, lost: number, duplicates: number, closed: number, histogram: number[], maxUs: number }
  | { kind: 'closed' }
  | { kind: 'reset' }
  | StormReply

/**
 * A storm's outcome in one load generator: ms from the drop to the welcome ("back") and to having every event up
 * to the welcome's position ("caught up"), as [p50, p99, max], with the samples so the parent can merge processes.
 * `failed`: sockets not back and caught up within the timeout.
 */
export interface StormReply {
  kind: 'storm'
  n: number
  failed: number
  back: Spread
  caughtUp: Spread
  samples: { back: number[], caughtUp: number[] }
  firstError?: string
}

export type Spread = [p50: number, p99: number, max: number]
/** Nearest-rank p50, p99 and max of a few thousand samples; NaN when there are none. */
export function spread (values: number[]): Spread {
  const v = [...values].sort((a, b) => a - b)
  const at = (q: number): number => v.length === 0 ? NaN : v[Math.max(0, Math.ceil(q * v.length) - 1)]!
  return [at(0.5), at(0.99), v.length === 0 ? NaN : v[v.length - 1]!]
}

/**
 * Where each user's stream stands, as the gateway sees it (the gateway stack only): `seq[u]` is the last offset
 * handed out for user u, `epoch[u]` the stream's epoch ('' when unknown). The welcome frame reports it per socket.
 */
export interface StreamPositions { seq: number[], epoch: string[] }

/** Parent → publisher. */
export interface PublisherCommand {
  cmd: 'run'
  stack: Stack
  scenario: Scenario
  redisUrl: string
  /** Gateway HTTP bases, for the ingest scenario. */
  http: string[]
  service: { id: string, secret: string }
  rate: number
  durationMs: number
  users: number
  seed: number
  batch: number
  /** Concurrent producers (connections) of ingest-single; requests in flight at most, for ingest-batch. */
  producers: number
  sioMode: 'classic' | 'sharded'
  /** fanout, gateway: the users' stream positions to continue from (offsets contiguous per user). */
  streams?: StreamPositions
  /** fanout, gateway: the hot history the gateway's broker keeps (HISTORY_SIZE, HISTORY_TTL_S). */
  history: { size: number, ttlMs: number }
  /** ingest-stream: the gateway's ingest stream (REDIS_KEY_PREFIX + "ingest"). */
  streamKey: string
}

/** Publisher → parent. */
export interface PublisherReply {
  kind: 'done'
  sent: number
  /** Events the gateway refused or that failed in transit (ingest): not expected anywhere. */
  failed: number[]
  elapsedMs: number
  /** fanout, gateway: the last offset published per user, where the next round (or ingest) goes on. */
  streamSeq?: number[]
  error?: string
}
