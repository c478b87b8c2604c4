// The targets, each judged met / not met / not measured from this run's figures, with the figure quoted.
import type { IngestScenario } from './common.js'
import { HEARTBEAT_INTERVAL_S } from './gateway-defaults.js'
import type { Options } from './options.js'
import { median, pairedRatio, table, worstLoopDelay, type SaturationResult, type Summary } from './report.js'
import type { RoundResult } from './round-result.js'
import { stormMet, type StormResult } from './storm.js'

type Verdict = 'met' | 'not met' | 'not measured'
interface Target { area: string, target: string, verdict: Verdict, figure: string }

const r2 = (x: number): string => Number.isFinite(x) ? x.toFixed(2) : '-'
const r0 = (x: number): string => Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-'

/** Fanout targets hold at 10,000 sockets, ingest targets at 1,000: a figure taken at another size says so. */
function scaleNote (o: Options, sockets: number): string {
  return o.sockets === sockets ? '' : ` (at ${o.sockets.toLocaleString('en-US')} sockets, the target's is ${sockets.toLocaleString('en-US')})`
}

const INGEST_CLEAN: Array<[IngestScenario, number, string]> = [
  ['ingest-batch', 10000, 'HTTP batches'],
  ['ingest-single', 4000, 'HTTP single events'],
  ['ingest-stream', 10000, 'the stream']
]
const INGEST_CPU: Array<[IngestScenario, number]> = [['ingest-batch', 60], ['ingest-single', 150]]

export function judge (o: Options, summaries: Summary[], saturation: SaturationResult[], half: RoundResult[], storm?: StormResult): string {
  const find = (stack: string, scenario: string): Summary | undefined => summaries.find((s) => s.stack === stack && s.scenario === scenario)
  const sat = (stack: string, scenario: string): SaturationResult | undefined => saturation.find((s) => s.stack === stack && s.scenario === scenario)
  const out: Target[] = []
  const push = (area: string, target: string, verdict: Verdict, figure: string): void => { out.push({ area, target, verdict, figure }) }
  const yes = (ok: boolean): Verdict => ok ? 'met' : 'not met'
  const fanoutScale = scaleNote(o, 10000)
  const ingestScale = scaleNote(o, 1000)

  // Fanout: the gateway against the bare ws + ioredis baseline and Socket.IO.
  const gwBest = sat('gateway', 'fanout')
  for (const [ref, factor] of [['baseline', 0.9], ['socketio', 1.5]] as const) {
    const name = `highest clean rate >= ${factor} x ${ref}`
    const refBest = sat(ref, 'fanout')
    if (gwBest === undefined || refBest === undefined) push('fanout', name, 'not measured', 'needs --mode saturate with both stacks')
    else if (refBest.best === null) push('fanout', name, gwBest.best === null ? 'not met' : 'met', `${ref} had no clean rate; gateway ${gwBest.best ?? 'none'}${fanoutScale}`)
    else {
      const v = (gwBest.best ?? 0) / refBest.best
      push('fanout', name, yes(v >= factor), `${r2(v)} x (${gwBest.best ?? 'none'} vs ${refBest.best} events/s)${fanoutScale}`)
    }
  }
  const halfGw = half.find((r) => r.stack === 'gateway')
  const halfBase = half.find((r) => r.stack === 'baseline')
  if (halfGw && halfBase) {
    const v = halfGw.latency.p99 / halfBase.latency.p99
    push('fanout', "p99 at half the baseline's clean rate <= 2 x baseline's", yes(v <= 2), `${r2(v)} x (${r2(halfGw.latency.p99)} vs ${r2(halfBase.latency.p99)} ms at ${halfGw.rate} events/s)${fanoutScale}`)
  } else push('fanout', "p99 at half the baseline's clean rate <= 2 x baseline's", 'not measured', 'needs --mode saturate with gateway and baseline')

  // Event-loop delay: from the compare runs, or the half-rate run of a saturation.
  const gw = find('gateway', 'fanout')
  const loop = gw ? { p99: gw.loopP99, max: gw.loopMax, where: `median of ${gw.runs} runs at ${gw.rate} events/s` } : halfGw ? { ...worstLoopDelay(halfGw), where: `at ${halfGw.rate} events/s` } : undefined
  const spansHeartbeat = o.durationS >= HEARTBEAT_INTERVAL_S
  for (const [what, limit] of [['p99', 10], ['max', 50]] as const) {
    const name = `gateway event-loop delay ${what} < ${limit} ms over a heartbeat interval`
    if (!loop) push('fanout', name, 'not measured', 'no gateway fanout run')
    else if (!spansHeartbeat) push('fanout', name, 'not measured', `window ${o.durationS} s < heartbeat interval ${HEARTBEAT_INTERVAL_S} s (${what} ${r2(loop[what])} ms)`)
    else push('fanout', name, yes(loop[what] < limit), `${what} ${r2(loop[what])} ms, worse server, ${loop.where}${fanoutScale}`)
  }

  const base = find('baseline', 'fanout')
  if (gw && base) {
    // Judged on the worse of the ratio of medians and the median of per-repetition ratios: near the limit, both must pass.
    const paired = pairedRatio(gw, base)
    const cpu = Math.max(gw.serverUs / base.serverUs, paired.median)
    push('fanout', 'server CPU/delivered message <= 1.15 x baseline', yes(cpu <= 1.15),
      `${r2(gw.serverUs / base.serverUs)} x (${r2(gw.serverUs)} vs ${r2(base.serverUs)} µs, medians of ${gw.runs}/${base.runs} runs); ` +
      `paired per repetition ${paired.each.map(r2).join(', ')}, median ${r2(paired.median)}${fanoutScale}`)
    const connect = gw.connectS / base.connectS
    push('fanout', 'sockets connected in <= 1.5 x baseline time', yes(connect <= 1.5), `${r2(connect)} x (${gw.connectS.toFixed(1)} vs ${base.connectS.toFixed(1)} s; servers' CPU per connect ${gw.connectServerUs.toFixed(0)} vs ${base.connectServerUs.toFixed(0)} µs)${fanoutScale}`)
    push('fanout', 'RSS/socket idle <= 1.25 x baseline', yes(gw.rssIdle / base.rssIdle <= 1.25), `${r2(gw.rssIdle / base.rssIdle)} x (${gw.rssIdle.toFixed(1)} vs ${base.rssIdle.toFixed(1)} KB)${fanoutScale}`)
    push('fanout', 'RSS/socket under load <= 1.25 x baseline', yes(gw.rssLoad / base.rssLoad <= 1.25), `${r2(gw.rssLoad / base.rssLoad)} x (${gw.rssLoad.toFixed(1)} vs ${base.rssLoad.toFixed(1)} KB)${fanoutScale}`)
  } else {
    for (const t of ['server CPU/delivered message <= 1.15 x baseline', 'sockets connected in <= 1.5 x baseline time', 'RSS/socket idle <= 1.25 x baseline', 'RSS/socket under load <= 1.25 x baseline']) {
      push('fanout', t, 'not measured', 'needs --mode compare with gateway and baseline fanout')
    }
  }
  if (gw && gw.rate === 10000) push('fanout', 'p99 < 15 ms at 10,000 events/s', yes(gw.p99 < 15), `p99 ${r2(gw.p99)} ms (median of ${gw.runs})${fanoutScale}`)
  else push('fanout', 'p99 < 15 ms at 10,000 events/s', 'not measured', gw ? `ran at ${gw.rate} events/s: p99 ${r2(gw.p99)} ms` : 'no gateway fanout run')
  const stormName = 'reconnect storm: 5,000 sockets resuming at once back and caught up < 5 s, nothing lost or doubled'
  if (!storm) push('fanout', stormName, 'not measured', o.mode === 'compare' ? 'no storm round (--storm 0, or no gateway fanout)' : 'needs --mode compare with the gateway fanout')
  else {
    const size = storm.n === 5000 ? '' : ` (${storm.n.toLocaleString('en-US')} sockets stormed, the target's is 5,000)`
    push('fanout', stormName, yes(stormMet(storm)),
      `caught up max ${r0(storm.caughtUp[2])} ms (p99 ${r0(storm.caughtUp[1])}), back max ${r0(storm.back[2])} ms, failed ${storm.failed}, ` +
      `lost ${r0(storm.round.lost)}, duplicates ${storm.round.duplicates} at ${r0(storm.rate)} events/s${size}${fanoutScale}`)
  }
  push('fanout', 'resume: 1,000 missed events replayed in < 100 ms', 'not measured', 'here: see the Resume section below (bench/resume.ts, after the load)')

  // Ingest: the durable path, one row per way in.
  for (const [scenario, limit, label] of INGEST_CLEAN) {
    const name = `${label} (${scenario}) >= ${limit.toLocaleString('en-US')} events/s stored and delivered clean`
    const s = sat('gateway', scenario)
    const c = find('gateway', scenario)
    if (s) push('ingest', name, yes((s.best ?? 0) >= limit), `highest clean rate ${s.best === null ? 'none' : r0(s.best)} events/s${ingestScale}`)
    else if (c && c.rate >= limit) push('ingest', name, yes(c.cleanRuns === c.runs), `${c.cleanRuns}/${c.runs} runs clean at ${r0(c.rate)} events/s (p99 ${r2(c.p99)} ms, lost ${r0(c.lost)})${ingestScale}`)
    else push('ingest', name, 'not measured', c ? `ran at ${r0(c.rate)} events/s only (${c.cleanRuns}/${c.runs} clean); use --mode saturate or --ingest-rate ${limit}` : `no ${scenario} run`)
  }
  for (const [scenario, limit] of INGEST_CPU) {
    const name = `CPU per stored event, gateways + PostgreSQL + Redis, ${scenario} <= ${limit} µs`
    const c = find('gateway', scenario)
    const step = sat('gateway', scenario)?.steps.filter((r) => r.clean).sort((a, b) => b.rate - a.rate)[0]
    const figure = c ? { us: c.storedUs, rate: c.rate, runs: `median of ${c.runs}` } : step ? { us: step.cpuUsPerStored, rate: step.rate, runs: 'highest clean step' } : undefined
    if (!figure) push('ingest', name, 'not measured', `no ${scenario} run`)
    else {
      push('ingest', name, yes(figure.us.durable <= limit),
        `${r2(figure.us.durable)} µs (gateways ${r2(figure.us.servers)}, PostgreSQL ${r2(figure.us.postgres)}, Redis ${r2(figure.us.redis)}) at ${r0(figure.rate)} events/s, ${figure.runs}${ingestScale}`)
    }
  }
  for (const [scenario] of INGEST_CLEAN) {
    const name = `p99 ingest->deliver < 20 ms at 2,000 events/s, ${scenario}`
    const c = find('gateway', scenario)
    const steps = sat('gateway', scenario)?.steps.filter((r) => r.rate === 2000) ?? []
    if (c && c.rate === 2000) push('ingest', name, yes(c.p99 < 20), `p99 ${r2(c.p99)} ms (median of ${c.runs})${ingestScale}`)
    else if (steps.length > 0) {
      const p99 = median(steps.map((r) => r.latency.p99))
      push('ingest', name, yes(p99 < 20), `p99 ${r2(p99)} ms (saturation step)${ingestScale}`)
    } else push('ingest', name, 'not measured', c ? `ran at ${r0(c.rate)} events/s: p99 ${r2(c.p99)} ms` : `no ${scenario} run at 2,000 events/s`)
  }
  return table(['area', 'target', 'verdict', 'figure'], out.map((t) => [t.area, t.target, t.verdict, t.figure]))
}
