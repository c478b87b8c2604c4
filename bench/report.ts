// Turns round results into the printed tables: medians per stack, the gateway's ratios to each reference, saturation.
import type { Scenario, Stack } from './common.js'
import type { RoundResult } from './session.js'

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

export function roundLine (r: RoundResult): string {
  return `${r.stack.padEnd(8)} ${r.scenario.padEnd(6)} R=${r.rate} sent ${f(r.achievedRate, 0)}/s  delivered ${f(r.eventsPerS, 0)} ev/s ` +
    `${f(r.messagesPerS, 0)} msg/s  p50/p95/p99/max ${f(r.latency.p50, 2)}/${f(r.latency.p95, 2)}/${f(r.latency.p99, 2)}/${f(r.latency.max, 1)} ms  ` +
    `lost ${f(r.lost, 0)} dup ${r.duplicates} closed ${r.closedSockets}  server ${f(r.cpuUsPerMsg.servers, 2)} µs/msg ` +
    `(${f(r.serverCores * 100, 0)} % core; others ${f(r.foreignCores * 100, 0)} %)  rss ${f(r.rssIdleKbPerSocket, 1)}/${f(r.rssLoadKbPerSocket, 1)} KB/socket  ${r.clean ? 'clean' : 'NOT CLEAN'}`
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
      cleanRuns: rs.filter((r) => r.clean).length
    }
  })
}

export function summaryTable (summaries: Summary[], scenario: Scenario): string {
  const rows = summaries.filter((s) => s.scenario === scenario).map((s) => [
    s.stack, String(s.runs), f(s.rate, 0), f(s.eventsPerS, 0), f(s.messagesPerS, 0), f(s.p50, 2), f(s.p95, 2), f(s.p99, 2), f(s.max, 1),
    `${f(s.lost, 0)}/${s.duplicates}`, f(s.rssIdle, 1), f(s.rssLoad, 1),
    `${f(s.serverUs, 2)} (${s.serverUsAll.map((x) => f(x, 1)).join(', ')})`, f(s.redisUs, 2), f(s.postgresUs, 2), f(s.publisherUs, 2), f(s.loadgenUs, 2), f(s.allUs, 2),
    f(s.foreignCores * 100, 0), `${s.cleanRuns}/${s.runs}`
  ])
  return table(['stack', 'runs', 'R ev/s', 'delivered ev/s', 'msg/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'lost/dup',
    'RSS idle KB/sock', 'RSS load KB/sock', 'server µs/msg median (each run)', 'redis µs/msg', 'postgres µs/msg', 'publisher µs/msg', 'loadgen µs/msg', 'all µs/msg', 'others % core', 'clean'], rows)
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
    s.steps.map((r) => `${r.rate}:${r.clean ? 'ok' : 'x'}(p99 ${f(r.latency.p99, 1)}, lost ${f(r.lost, 0)}, ${f(r.cpuUsPerMsg.servers, 1)}µs)`).join(' ')
  ])
  const out = [table(['stack', 'scenario', 'highest clean R ev/s', 'steps (R: clean? p99 ms, lost, server µs/msg)'], rows)]
  const gw = results.find((s) => s.stack === 'gateway' && s.scenario === 'fanout')
  for (const ref of ['baseline', 'socketio'] as const) {
    const r = results.find((s) => s.stack === ref && s.scenario === 'fanout')
    if (gw?.best && r?.best) out.push(`highest clean rate, gateway / ${ref}: ${f(gw.best / r.best, 2)}`)
  }
  return out.join('\n')
}
