// The reconnect storm: which sockets drop, the load generators' figures merged, and the storm's report lines.
import { spread, type IngestScenario, type Spread, type StormReply } from './common.js'
import { table, worstLoopDelay } from './report.js'
import type { RoundResult } from './round-result.js'

/**
 * The storm's events go the durable way (HTTP batches): a resume is checked against PostgreSQL (the stream's
 * position, its earliest stored offset), which the fanout scenario's frames, published straight into Redis,
 * never reach. Through ingest, the positions the welcomes report and the history replayed are production's.
 */
export const STORM_SCENARIO: IngestScenario = 'ingest-batch'

export interface StormResult {
  rate: number
  /** Sockets dropped and resumed, and those not back and caught up within the timeout. */
  n: number
  failed: number
  /** ms from the drop: to the welcome, and to every event up to the welcome's position. */
  back: Spread
  caughtUp: Spread
  firstError?: string
  /** The fanout round the storm ran in: lost, duplicates, server-closed sockets, loop delay, delivery latency. */
  round: RoundResult
}

/**
 * Per load generator, the indexes (into its socket list) of the sockets to drop: one socket for each of `count`
 * users spread evenly over all users, the user's socket 0 or 1 alternately, so both servers and every load
 * generator lose their share and no user loses both sockets. `plan` rows are [user, the user's socket, server].
 */
export function stormSlots (plan: Array<Array<[number, number, number]>>, count: number): number[][] {
  const users = plan.reduce((n, p) => p.reduce((m, [u]) => Math.max(m, u + 1), n), 0)
  const stormed = (u: number): boolean => Math.floor((u + 1) * count / users) > Math.floor(u * count / users)
  return plan.map((p) => p.flatMap(([u, s], i) => stormed(u) && s === u % 2 ? [i] : []))
}

export function mergeStorm (round: RoundResult, replies: StormReply[]): StormResult {
  const firstError = replies.find((r) => r.firstError)?.firstError
  return {
    rate: round.rate,
    n: replies.reduce((n, r) => n + r.n, 0),
    failed: replies.reduce((n, r) => n + r.failed, 0),
    back: spread(replies.flatMap((r) => r.samples.back)),
    caughtUp: spread(replies.flatMap((r) => r.samples.caughtUp)),
    ...(firstError ? { firstError } : {}),
    round
  }
}

const ms = (x: number): string => Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-'
const f1 = (x: number): string => Number.isFinite(x) ? x.toFixed(1) : '-'
const spreadText = (s: Spread): string => s.map(ms).join('/')

export function stormLine (s: StormResult): string {
  const loop = worstLoopDelay(s.round)
  return `storm: ${s.n} sockets dropped and resumed at R=${s.rate}, failed ${s.failed}  back p50/p99/max ${spreadText(s.back)} ms  ` +
    `caught up p50/p99/max ${spreadText(s.caughtUp)} ms  lost ${ms(s.round.lost)} dup ${s.round.duplicates} closed by servers ${s.round.closedSockets}  ` +
    `loop delay p99/max ${f1(loop.p99)}/${f1(loop.max)} ms${s.firstError ? `  first error: ${s.firstError}` : ''}`
}

export function stormTable (s: StormResult): string {
  const loop = worstLoopDelay(s.round)
  return table(
    ['sockets', 'R ev/s', 'failed', 'back p50/p99/max ms', 'caught up p50/p99/max ms', 'lost/dup', 'closed by servers', 'delivery p99/max ms', 'loop delay p99/max ms (worse server)'],
    [[String(s.n), String(s.rate), String(s.failed), spreadText(s.back), spreadText(s.caughtUp), `${ms(s.round.lost)}/${s.round.duplicates}`, String(s.round.closedSockets),
      `${f1(s.round.latency.p99)}/${f1(s.round.latency.max)}`, `${f1(loop.p99)}/${f1(loop.max)}`]])
}

/** The issue's storm target: every socket back and caught up within 5 s, nothing lost or delivered twice. */
export function stormMet (s: StormResult): boolean {
  return s.n > 0 && s.failed === 0 && s.caughtUp[2] < 5000 && s.round.lost === 0 && s.round.duplicates === 0
}
