// What one measured round reports, and how the parent recognizes each load generator reply.
import type { LoadgenReply, Scenario, Stack } from './common.js'
import type { Percentiles } from './histogram.js'

export interface RoundResult {
  stack: Stack
  scenario: Scenario
  rate: number
  achievedRate: number
  connected: number
  connectFailed: number
  eventsPerS: number
  messagesPerS: number
  latency: Percentiles
  expected: number
  lost: number
  duplicates: number
  closedSockets: number
  /** Seconds until every socket of the session had its welcome (the slower load generator). */
  connectS: number
  /** Both servers' CPU over the connect phase, per connected socket (µs): what a connect costs, whatever the load generators' share of the cores. */
  connectServerUs: number
  rssIdleKbPerSocket: number
  rssLoadKbPerSocket: number
  /** Microseconds of CPU per delivered message, per role, over the measured window. */
  cpuUsPerMsg: { servers: number, redis: number, postgres: number, publisher: number, loadgen: number, all: number }
  /**
   * Ingest scenarios: events stored in PostgreSQL during the window, and CPU per stored event (µs) of each role
   * of the durable path and of the three together (`durable` = servers + postgres + redis).
   */
  storedEvents: number
  cpuUsPerStored: { servers: number, postgres: number, redis: number, durable: number }
  /** ingest-stream: entries the gateway dead-lettered during the round. */
  deadLettered: number
  /** Redis's own time by command over the window (INFO commandstats; a script's calls count under their names too), most first. */
  redisCommands: Array<{ command: string, calls: number, usec: number }>
  /** Each server's event-loop delay over the window (ms), from the preloaded probe, and its GC pauses. */
  loopDelay: Array<{ server: string, p50: number, p99: number, max: number, gcMs: number, gcMaxMs: number, gcMajor: number }>
  /** Both servers' CPU over the window, in cores (1.0 = one core busy). */
  serverCores: number
  /**
   * Cores kept busy during the window by processes that are not the bench's (other engineers' test suites on
   * the same 2 cores): the noise of this round, in cores.
   */
  foreignCores: number
  /** The measured window on CLOCK_MONOTONIC (µs), the clock of V8's CPU profiles too. */
  windowStartUs: number
  windowEndUs: number
  clean: boolean
}

export const isReply = <K extends LoadgenReply['kind']>(kind: K) => (m: unknown): m is Extract<LoadgenReply, { kind: K }> =>
  typeof m === 'object' && m !== null && (m as { kind?: unknown }).kind === kind
