// The targets, each judged met / missed / not measured from this run's figures, with the figure quoted.
import type { Options } from './options.js'
import { pairedRatio, table, type SaturationResult, type Summary } from './report.js'

type Verdict = 'met' | 'missed' | 'not measured'
interface Target { target: string, verdict: Verdict, figure: string }

const r2 = (x: number): string => Number.isFinite(x) ? x.toFixed(2) : '-'

export function judge (o: Options, summaries: Summary[], saturation: SaturationResult[]): string {
  const find = (stack: string, scenario: string): Summary | undefined => summaries.find((s) => s.stack === stack && s.scenario === scenario)
  const gw = find('gateway', 'fanout')
  const base = find('baseline', 'fanout')
  const full = o.sockets === 10000
  const scale = full ? '' : ` (at ${o.sockets} sockets, not the issue's 10,000)`
  const out: Target[] = []
  const ratio = (name: string, value: number | undefined, limit: number, figure: string): void => {
    if (value === undefined || !Number.isFinite(value)) { out.push({ target: name, verdict: 'not measured', figure: 'no gateway+baseline fanout run in this mode' }); return }
    out.push({ target: name, verdict: value <= limit ? 'met' : 'missed', figure: figure + scale })
  }
  if (gw && base) {
    // Judged on the worse of the ratio of medians and the median of per-repetition ratios: near the limit, both must pass.
    const paired = pairedRatio(gw, base)
    ratio('server CPU/msg <= 1.15 x baseline', Math.max(gw.serverUs / base.serverUs, paired.median), 1.15,
      `${r2(gw.serverUs / base.serverUs)} x (${r2(gw.serverUs)} vs ${r2(base.serverUs)} µs, medians of ${gw.runs}/${base.runs} runs); ` +
      `paired per repetition ${paired.each.map(r2).join(', ')}, median ${r2(paired.median)}`)
    ratio('RSS/socket idle <= 1.25 x baseline', gw.rssIdle / base.rssIdle, 1.25, `${r2(gw.rssIdle / base.rssIdle)} x (${gw.rssIdle.toFixed(1)} vs ${base.rssIdle.toFixed(1)} KB)`)
    ratio('RSS/socket under load <= 1.25 x baseline', gw.rssLoad / base.rssLoad, 1.25, `${r2(gw.rssLoad / base.rssLoad)} x (${gw.rssLoad.toFixed(1)} vs ${base.rssLoad.toFixed(1)} KB)`)
  } else {
    for (const t of ['server CPU/msg <= 1.15 x baseline', 'RSS/socket idle <= 1.25 x baseline', 'RSS/socket under load <= 1.25 x baseline']) ratio(t, undefined, 0, '')
  }
  if (gw && gw.rate === 10000) {
    out.push({ target: 'p99 < 15 ms at 10,000 events/s', verdict: gw.p99 < 15 ? 'met' : 'missed', figure: `p99 ${r2(gw.p99)} ms (median of ${gw.runs})${scale}` })
  } else {
    out.push({ target: 'p99 < 15 ms at 10,000 events/s', verdict: 'not measured', figure: gw ? `ran at ${gw.rate} events/s: p99 ${r2(gw.p99)} ms` : 'no gateway fanout run' })
  }
  const sat = (stack: string, scenario: string): number | null | undefined => saturation.find((s) => s.stack === stack && s.scenario === scenario)?.best
  const gwBest = sat('gateway', 'fanout')
  for (const [ref, factor] of [['baseline', 0.9], ['socketio', 1.5]] as const) {
    const refBest = sat(ref, 'fanout')
    const name = `highest clean rate >= ${factor} x ${ref}`
    if (gwBest === undefined || refBest === undefined || refBest === null) {
      out.push({ target: name, verdict: 'not measured', figure: 'needs --mode saturate with both stacks' })
    } else {
      const v = (gwBest ?? 0) / refBest
      out.push({ target: name, verdict: v >= factor ? 'met' : 'missed', figure: `${r2(v)} x (${gwBest ?? 'none'} vs ${refBest} events/s)${scale}` })
    }
  }
  const ingBest = sat('gateway', 'ingest')
  out.push(ingBest === undefined
    ? { target: 'ingest >= 10,000 events/s stored and delivered', verdict: 'not measured', figure: 'needs --mode saturate --scenarios ingest' }
    : { target: 'ingest >= 10,000 events/s stored and delivered', verdict: (ingBest ?? 0) >= 10000 ? 'met' : 'missed', figure: `highest clean ingest rate ${ingBest ?? 'none'} events/s${scale}` })
  const ing = find('gateway', 'ingest')
  out.push(ing && ing.rate === 2000
    ? { target: 'ingest p99 < 50 ms at 2,000 events/s', verdict: ing.p99 < 50 ? 'met' : 'missed', figure: `p99 ${r2(ing.p99)} ms (median of ${ing.runs})${scale}` }
    : { target: 'ingest p99 < 50 ms at 2,000 events/s', verdict: 'not measured', figure: ing ? `ran at ${ing.rate} events/s: p99 ${r2(ing.p99)} ms` : 'no ingest run at 2,000 events/s' })
  out.push({ target: 'resume: 1,000 missed events replayed in < 100 ms', verdict: 'not measured', figure: 'here: see the Resume section below (bench/resume.ts, after the load)' })
  return table(['target', 'verdict', 'figure'], out.map((t) => [t.target, t.verdict, t.figure]))
}
