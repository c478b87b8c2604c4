// Turns round results into the printed tables: medians per stack, the gateway's ratios to each reference, saturation.
import { isIngest, type Scenario, type Stack } from './common.js'
import type { RoundResult } from './round-result.js'

export function median (values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2
}

function f (n: number, digits = 1): string {
  if (!Number.isFinite(n)) return '-'
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** A markdown table: readable in a terminal, pasteable into docs/benchmarks.md. */
export function table (head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

/** The worse of the two servers: a stall on either is a stall of the stack. */
export function worstLoopDelay (r: RoundResult): { p99: number, max: number } {
  const finite = (xs: number[]): number => xs.some(Number.isFinite) ? Math.max(...xs.filter(Number.isFinite)) : NaN
  return { p99: finite(r.loopDelay.map((l) => l.p99)), max: finite(r.loopDelay.map((l) => l.max)) }
}

export function roundLine (r: RoundResult): string {
  const loop = worstLoopDelay(r)
  const durable = isIngest(r.scenario)
    ? `stored ${f(r.storedEvents, 0)} in window, durable path ${f(r.cpuUsPerStored.durable, 1)} µs/event (gw ${f(r.cpuUsPerStored.servers, 1)} pg ${f(r.cpuUsPerStored.postgres, 1)} redis ${f(r.cpuUsPerStored.redis, 1)})` +
      `${r.scenario === 'ingest-stream' ? ` dead-lettered ${f(r.deadLettered, 0)}` : ''}  `
    : ''
  return `${r.stack.padEnd(8)} ${r.scenario.padEnd(13)} R=${r.rate} sent ${f(r.achievedRate, 0)}/s  delivered ${f(r.eventsPerS, 0)} ev/s ` +
    `${f(r.messagesPerS, 0)} msg/s  p50/p95/p99/max ${f(r.latency.p50, 2)}/${f(r.latency.p95, 2)}/${f(r.latency.p99, 2)}/${f(r.latency.max, 1)} ms  ` +
    `lost ${f(r.lost, 0)} dup ${r.duplicates} closed ${r.closedSockets}  ${durable}server ${f(r.cpuUsPerMsg.servers, 2)} µs/msg ` +
    `(${f(r.serverCores * 100, 0)} % core; others ${f(r.foreignCores * 100, 0)} %)  loop delay p99/max ${f(loop.p99, 1)}/${f(loop.max, 1)} ms  ` +
    `rss ${f(r.rssIdleKbPerSocket, 1)}/${f(r.rssLoadKbPerSocket, 1)} KB/socket  ${r.clean ? 'clean' : 'NOT CLEAN'}` +
    `${r.redisCommands.length > 0 ? `\n    redis by command, µs per msg (calls per msg): ${redisLine(r)}` : ''}`
}

/** The commands that took most of Redis's time in the window, per delivered message. */
function redisLine (r: RoundResult): string {
  const msgs = Math.max(1, r.messagesPerS * (r.windowEndUs - r.windowStartUs) / 1e6)
  return r.redisCommands.slice(0, 6).map((c) => `${c.command} ${f(c.usec / msgs, 2)} (${f(c.calls / msgs, 2)})`).join(', ')
}

export interface Summary {
  stack: Stack
  scenario: Scenario
  runs: number
  rate: number
  eventsPerS: number
  messagesPerS: number
  p50: number
  p95: number
  p99: number
  max: number
  lost: number
  duplicates: number
  rssIdle: number
  rssLoad: number
  serverUs: number
  serverUsAll: number[]
  redisUs: number
  postgresUs: number
  publisherUs: number
  loadgenUs: number
  allUs: number
  foreignCores: number
  cleanRuns: number
  connectS: number
  /** Both servers' CPU per connected socket over the connect phase (µs). */
  connectServerUs: number
  /** Worse server per run: median of the p99s, and the highest max of any run. */
  loopP99: number
  loopMax: number
  storedPerS: number
  /** CPU per stored event (µs), medians: servers, PostgreSQL, Redis, and the three together. */
  storedUs: { servers: number, postgres: number, redis: number, durable: number }
  deadLettered: number
}

export function summarize (results: RoundResult[]): Summary[] {
  const groups = new Map<string, RoundResult[]>()
  for (const r of results) {
    const key = `${r.scenario}/${r.stack}/${r.rate}`
    groups.set(key, [...(groups.get(key) ?? []), r])
  }
  return [...groups.values()].map((rs) => {
    const m = (fn: (r: RoundResult) => number): number => median(rs.map(fn))
    return {
      stack: rs[0]!.stack,
      scenario: rs[0]!.scenario,
      runs: rs.length,
      rate: rs[0]!.rate,
      eventsPerS: m((r) => r.eventsPerS),
      messagesPerS: m((r) => r.messagesPerS),
      p50: m((r) => r.latency.p50),
      p95: m((r) => r.latency.p95),
      p99: m((r) => r.latency.p99),
      max: Math.max(...rs.map((r) => r.latency.max)),
      lost: rs.reduce((s, r) => s + r.lost, 0),
      duplicates: rs.reduce((s, r) => s + r.duplicates, 0),
      rssIdle: m((r) => r.rssIdleKbPerSocket),
      rssLoad: m((r) => r.rssLoadKbPerSocket),
      serverUs: m((r) => r.cpuUsPerMsg.servers),
      serverUsAll: rs.map((r) => r.cpuUsPerMsg.servers),
      redisUs: m((r) => r.cpuUsPerMsg.redis),
      postgresUs: m((r) => r.cpuUsPerMsg.postgres),
      publisherUs: m((r) => r.cpuUsPerMsg.publisher),
      loadgenUs: m((r) => r.cpuUsPerMsg.loadgen),
      allUs: m((r) => r.cpuUsPerMsg.all),
      foreignCores: m((r) => r.foreignCores),
      cleanRuns: rs.filter((r) => r.clean).length,
      connectS: m((r) => r.connectS),
      connectServerUs: m((r) => r.connectServerUs),
      loopP99: m((r) => worstLoopDelay(r).p99),
      loopMax: Math.max(...rs.map((r) => worstLoopDelay(r).max)),
      storedPerS: m((r) => r.storedEvents / ((r.windowEndUs - r.windowStartUs) / 1e6)),
      storedUs: { servers: m((r) => r.cpuUsPerStored.servers), postgres: m((r) => r.cpuUsPerStored.postgres), redis: m((r) => r.cpuUsPerStored.redis), durable: m((r) => r.cpuUsPerStored.durable) },
      deadLettered: rs.reduce((s, r) => s + r.deadLettered, 0)
    }
  })
}

export function summaryTable (summaries: Summary[], scenario: Scenario): string {
  if (isIngest(scenario)) return ingestTable(summaries, scenario)
  const rows = summaries.filter((s) => s.scenario === scenario).map((s) => [
    s.stack, String(s.runs), f(s.rate, 0), f(s.eventsPerS, 0), f(s.messagesPerS, 0), f(s.p50, 2), f(s.p95, 2), f(s.p99, 2), f(s.max, 1),
    `${f(s.lost, 0)}/${s.duplicates}`, f(s.rssIdle, 1), f(s.rssLoad, 1),
    `${f(s.serverUs, 2)} (${s.serverUsAll.map((x) => f(x, 1)).join(', ')})`, f(s.redisUs, 2), f(s.postgresUs, 2), f(s.publisherUs, 2), f(s.loadgenUs, 2), f(s.allUs, 2),
    f(s.loopP99, 1), f(s.loopMax, 1), f(s.connectS, 1), f(s.connectServerUs, 0), f(s.foreignCores * 100, 0), `${s.cleanRuns}/${s.runs}`
  ])
  return table(['stack', 'runs', 'R ev/s', 'delivered ev/s', 'msg/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'lost/dup',
    'RSS idle KB/sock', 'RSS load KB/sock', 'server µs/msg median (each run)', 'redis µs/msg', 'postgres µs/msg', 'publisher µs/msg', 'loadgen µs/msg', 'all µs/msg',
    'loop delay p99 ms', 'loop delay max ms', 'connect s', 'connect server µs/socket', 'others % core', 'clean'], rows)
}

/** The durable path: what was stored and delivered, how fast, and what each stored event cost gateways, PostgreSQL and Redis. */
function ingestTable (summaries: Summary[], scenario: Scenario): string {
  const rows = summaries.filter((s) => s.scenario === scenario).map((s) => [
    s.stack, String(s.runs), f(s.rate, 0), f(s.eventsPerS, 0), f(s.storedPerS, 0), f(s.p50, 2), f(s.p99, 2), f(s.max, 1),
    `${f(s.lost, 0)}/${s.duplicates}${scenario === 'ingest-stream' ? ` (dead ${f(s.deadLettered, 0)})` : ''}`,
    f(s.storedUs.durable, 1), f(s.storedUs.servers, 1), f(s.storedUs.postgres, 1), f(s.storedUs.redis, 1),
    f(s.loopP99, 1), f(s.loopMax, 1), f(s.foreignCores * 100, 0), `${s.cleanRuns}/${s.runs}`
  ])
  return table(['stack', 'runs', 'R ev/s', 'delivered ev/s', 'stored ev/s', 'p50 ms', 'p99 ms', 'max ms', 'lost/dup',
    'µs/stored event: gateways+pg+redis', 'gateways', 'postgres', 'redis', 'loop delay p99 ms', 'loop delay max ms', 'others % core', 'clean'], rows)
}

/** Every server of every run: the stall figure, which a median over servers would hide. */
export function loopDelayTable (results: RoundResult[]): string {
  const rows = results.flatMap((r) => r.loopDelay.map((l) => [r.stack, r.scenario, f(r.rate, 0), l.server, f(l.p50, 2), f(l.p99, 2), f(l.max, 1), f(l.gcMs, 0), f(l.gcMaxMs, 1), f(l.gcMajor, 0)]))
  return rows.length === 0 ? '(no runs)' : table(['stack', 'scenario', 'R ev/s', 'server', 'p50', 'p99', 'max', 'GC ms', 'GC max ms', 'major GCs'], rows)
}

/** Gateway ÷ reference per repetition (the two ran minutes apart, under similar noise), then the median of those. */
export function pairedRatio (gw: Summary, ref: Summary): { median: number, each: number[] } {
  const each = gw.serverUsAll.slice(0, ref.serverUsAll.length).map((g, i) => g / ref.serverUsAll[i]!)
  return { median: median(each), each }
}

/** gateway ÷ reference for the comparable figures; below 1 means the gateway costs less. */
export function ratioTable (summaries: Summary[], scenario: Scenario): string {
  const gw = summaries.find((s) => s.stack === 'gateway' && s.scenario === scenario)
  if (!gw) return '(no gateway run)'
  const rows: string[][] = []
  for (const ref of ['baseline', 'socketio'] as const) {
    const r = summaries.find((s) => s.stack === ref && s.scenario === scenario)
    if (!r) continue
    const paired = pairedRatio(gw, r)
    rows.push([`gateway / ${ref}`, f(gw.serverUs / r.serverUs, 2), `${f(paired.median, 2)} (${paired.each.map((x) => f(x, 2)).join(', ')})`, f(gw.allUs / r.allUs, 2), f(gw.rssIdle / r.rssIdle, 2), f(gw.rssLoad / r.rssLoad, 2), f(gw.p99 / r.p99, 2)])
  }
  return rows.length === 0 ? '(no reference run)' : table(['ratio', 'server µs/msg (medians)', 'server µs/msg paired per repetition: median (each)', 'all processes µs/msg', 'RSS idle/socket', 'RSS load/socket', 'p99'], rows)
}

export interface SaturationResult { stack: Stack, scenario: Scenario, best: number | null, steps: RoundResult[] }

export function saturationTable (results: SaturationResult[]): string {
  const rows = results.map((s) => [
    s.stack, s.scenario, s.best === null ? 'none' : f(s.best, 0),
    s.steps.map((r) => `${r.rate}:${r.clean ? 'ok' : 'x'}(p99 ${f(r.latency.p99, 1)}, lost ${f(r.lost, 0)}, ` +
      `${isIngest(r.scenario) ? `${f(r.cpuUsPerStored.durable, 1)}µs/stored` : `${f(r.cpuUsPerMsg.servers, 1)}µs/msg`}, loop ${f(worstLoopDelay(r).max, 0)}ms)`).join(' ')
  ])
  const out = [table(['stack', 'scenario', 'highest clean R ev/s', 'steps (R: clean? p99 ms, lost, server µs/msg or durable µs/stored event, loop delay max)'], rows)]
  const gw = results.find((s) => s.stack === 'gateway' && s.scenario === 'fanout')
  for (const ref of ['baseline', 'socketio'] as const) {
    const r = results.find((s) => s.stack === ref && s.scenario === 'fanout')
    if (gw?.best && r?.best) out.push(`highest clean rate, gateway / ${ref}: ${f(gw.best / r.best, 2)}`)
  }
  return out.join('\n')
}
