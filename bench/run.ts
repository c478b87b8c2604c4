// `npm run bench`: starts Redis, a PostgreSQL schema, each stack's servers and the load, runs the chosen mode, prints the tables.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isIngest, type Scenario, type Stack } from './common.js'
import { HEARTBEAT_INTERVAL_S } from './gateway-defaults.js'
import { createSchema, startRedis, stopRedis, type PgSchema, type RedisServer } from './infra.js'
import { parseOptions, USAGE, type Options } from './options.js'
import { adoptPidFile, installCleanup, stopAll } from './procs.js'
import { formatProfile, summarizeProfiles } from './profile-summary.js'
import { loopDelayTable, ratioTable, roundLine, saturationTable, summarize, summaryTable, type SaturationResult } from './report.js'
import { Session, type RoundResult } from './session.js'
import { STORM_SCENARIO, stormLine, stormTable, type StormResult } from './storm.js'
import { judge } from './targets.js'

const benchDist = dirname(fileURLToPath(import.meta.url))
const root = resolve(benchDist, '..', '..')

let redis: RedisServer | null = null
let schema: PgSchema | null = null
let sessionCount = 0

function say (line = ''): void { process.stdout.write(`${line}\n`) }

async function teardown (): Promise<void> {
  await stopAll()
  if (redis) await stopRedis(redis).catch(() => undefined)
  if (schema) await schema.drop().catch((err: unknown) => process.stderr.write(`bench: could not drop schema ${schema?.schema}: ${String(err)}\n`))
  redis = null
  schema = null
}

function session (o: Options, stack: Stack, runDir: string, cpuProfDir: string | null = null): Session {
  if (redis === null || schema === null) throw new Error('infrastructure not started')
  return new Session({
    stack,
    sockets: o.sockets,
    loadgens: o.loadgens,
    placement: o.placement,
    seed: o.seed,
    batch: o.batch,
    producers: o.producers,
    addressOffset: sessionCount++,
    redisUrl: redis.url,
    pgUrl: schema.url,
    pgSchema: schema.schema,
    sioMode: o.sioAdapter,
    cpuProfDir,
    logDir: runDir,
    benchDist,
    root,
    logLevel: o.logLevel,
    pinServers: o.pinServers,
    quietWaitS: o.quietWaitS
  }, redis.child)
}

async function compare (o: Options, runDir: string): Promise<{ results: RoundResult[], storm?: StormResult }> {
  const results: RoundResult[] = []
  let storm: StormResult | undefined
  // Stacks interleaved within each repetition: slow drift in the machine's load hits every stack alike.
  for (let rep = 1; rep <= o.repeat; rep++) {
    for (const stack of o.stacks) {
      const s = session(o, stack, runDir)
      try {
        await s.start()
        say(`[${rep}/${o.repeat}] ${stack}: ${s.connected} sockets connected in ${s.connectS.toFixed(1)} s`)
        for (const scenario of scenariosOf(o, stack)) {
          const r = await s.round(scenario, rateOf(o, scenario), o.durationS, o.warmupS)
          results.push(r); say(`  ${roundLine(r)}`)
        }
        // Once, in the last gateway session: its sockets are connected already. Not one of the compare rounds.
        if (rep === o.repeat && stack === 'gateway' && o.storm > 0 && o.scenarios.includes('fanout')) {
          storm = await s.stormRound(o.stormRate, o.storm, o.durationS, o.warmupS)
          say(`  ${roundLine(storm.round)}`); say(`  ${stormLine(storm)}`)
        }
      } finally { await s.stop() }
    }
  }
  return { results, ...(storm ? { storm } : {}) }
}

/** The references have no ingest: they run the fanout only. */
function scenariosOf (o: Options, stack: Stack): Scenario[] {
  return o.scenarios.filter((s) => stack === 'gateway' || !isIngest(s))
}

function rateOf (o: Options, scenario: Scenario): number {
  return isIngest(scenario) ? o.ingestRate : o.rate
}

/** Geometric steps up to the first unclean rate, then two bisections; a session whose sockets dropped is restarted. */
async function saturate (o: Options, runDir: string, stack: Stack, scenario: Scenario): Promise<SaturationResult> {
  const steps: RoundResult[] = []
  let s = session(o, stack, runDir)
  await s.start()
  say(`${stack} ${scenario}: ${s.connected} sockets connected`)
  const tryRate = async (rate: number): Promise<boolean> => {
    const r = await s.round(scenario, rate, o.durationS, o.warmupS)
    steps.push(r); say(`  ${roundLine(r)}`)
    if (r.closedSockets > 0) {
      await s.stop()
      s = session(o, stack, runDir)
      await s.start()
    }
    return r.clean
  }
  let good: number | null = null
  let bad: number | null = null
  try {
    let rate = isIngest(scenario) ? o.ingestSatStart : o.satStart
    for (let i = 0; i < o.satSteps; i++) {
      if (await tryRate(rate)) { good = rate; rate = Math.round(rate * o.satFactor / 100) * 100 } else { bad = rate; break }
    }
    // Even the first step failed: look below it instead.
    for (let i = 0; good === null && i < 2; i++) {
      const lower = Math.round((bad ?? rate) / o.satFactor / 100) * 100
      if (await tryRate(lower)) good = lower; else bad = lower
    }
    for (let i = 0; i < 2 && good !== null && bad !== null; i++) {
      const mid = Math.round((good + bad) / 2 / 100) * 100
      if (mid <= good || mid >= bad) break
      if (await tryRate(mid)) good = mid; else bad = mid
    }
  } finally { await s.stop() }
  return { stack, scenario, best: good, steps }
}

/** One gateway session per scenario under --cpu-prof; the summary keeps only the samples of the measured window. */
async function profile (o: Options, runDir: string): Promise<string> {
  const parts: string[] = []
  for (const scenario of o.scenarios) {
    const profDir = join(runDir, `cpuprofile-${scenario}`)
    mkdirSync(profDir, { recursive: true })
    const s = session(o, 'gateway', runDir, profDir)
    let round: RoundResult
    let storm: StormResult | undefined
    try {
      await s.start()
      say(`gateway (under --cpu-prof): ${s.connected} sockets connected`)
      round = await s.round(scenario, rateOf(o, scenario), o.durationS, o.warmupS)
      say(`  ${roundLine(round)}`)
      // With --storm, fanout's session also runs the compare mode's storm round, profiled on its own below.
      if (scenario === 'fanout' && o.storm > 0) {
        storm = await s.stormRound(o.stormRate, o.storm, o.durationS, o.warmupS)
        say(`  ${stormLine(storm)}`)
      }
    } finally { await s.stop() } // SIGTERM: the gateways exit cleanly and write their profiles.
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(profDir, f))
    parts.push(`## Profile: gateway, ${scenario} at ${round.rate} events/s, both instances, measured window only`, '')
    if (files.length === 0) { parts.push('no .cpuprofile written (did the gateways exit cleanly?)', ''); continue }
    const summary = summarizeProfiles(files, 25, { startUs: round.windowStartUs, endUs: round.windowEndUs })
    parts.push(`profiles: ${files.map((f) => f.slice(root.length + 1)).join(', ')}`, '', formatProfile(summary), '')
    // The connect phase on its own: what each new socket costs (auth, admission, position, subscription, welcome).
    parts.push(`### The connect phase: ${s.connected} sockets in ${s.connectS.toFixed(1)} s, both instances`, '',
      formatProfile(summarizeProfiles(files, 25, s.connectWindow)), '')
    if (storm !== undefined) {
      parts.push(`### The reconnect storm: ${stormLine(storm)}; from the drop to the last socket caught up, both instances`, '',
        formatProfile(summarizeProfiles(files, 25, s.stormWindow)), '')
    }
  }
  return parts.join('\n')
}

/**
 * The p99 comparison at half the baseline's highest clean rate: gateway and baseline fanout, one session each, at
 * that rate, after the saturation searches found it.
 */
async function halfRate (o: Options, runDir: string, baselineBest: number): Promise<RoundResult[]> {
  const rate = Math.max(100, Math.round(baselineBest / 2 / 100) * 100)
  const out: RoundResult[] = []
  for (const stack of ['baseline', 'gateway'] as const) {
    const s = session(o, stack, runDir)
    try {
      await s.start()
      const r = await s.round('fanout', rate, o.durationS, o.warmupS)
      out.push(r); say(`  half the baseline's clean rate: ${roundLine(r)}`)
    } finally { await s.stop() }
  }
  return out
}

/** The single-purpose benchmarks (resume, auth connects): each starts what it needs, so they run after the load is gone. */
function child (script: string, args: string[]): string {
  const run = spawnSync(process.execPath, [join(benchDist, script), ...args], { encoding: 'utf8', timeout: 180_000 })
  return run.status === 0 ? run.stdout.trim() : `${script} failed (${run.status ?? run.signal}): ${run.stderr.slice(-500)}`
}

async function main (): Promise<void> {
  const parsed = parseOptions(process.argv.slice(2), process.env)
  if (parsed === 'help') { say(USAGE); return }
  const o = parsed
  if (!existsSync(join(root, 'dist', 'server.js'))) throw new Error('dist/server.js is missing: run `npm run build` (npm run bench does)')
  const out = resolve(root, o.out)
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)
  const runDir = join(out, `${stamp}-${o.mode}`)
  mkdirSync(runDir, { recursive: true })
  adoptPidFile(join(out, 'children.pids'))
  installCleanup(teardown)
  const deadline = setTimeout(() => {
    process.stderr.write(`bench: --deadline-min ${o.deadlineMin} reached, stopping\n`)
    teardown().finally(() => process.exit(3)).catch(() => undefined)
  }, o.deadlineMin * 60_000)
  deadline.unref()

  say(`bench: mode ${o.mode}, ${o.sockets} sockets over ${o.sockets / 2} users, stacks ${o.stacks.join(',')}, scenarios ${o.scenarios.join(',')}, ` +
    `R ${o.rate} (ingest ${o.ingestRate}) ev/s, ${o.warmupS}+${o.durationS} s per run, Socket.IO adapter ${o.sioAdapter}, placement ${o.placement}${o.pinServers ? ', servers pinned to CPU 0' : ''}${o.mode === 'compare' && o.storm > 0 ? `, storm ${o.storm} sockets at ${o.stormRate} ev/s` : ''}; logs in ${runDir}`)
  if (o.durationS < 2 * HEARTBEAT_INTERVAL_S) {
    say(`bench: WARNING: --duration ${o.durationS} s is shorter than two heartbeat intervals (${2 * HEARTBEAT_INTERVAL_S} s): a window may miss the liveness sweep, figures may hide its stall`)
  }
  redis = await startRedis(join(runDir, 'redis.log'))
  // Not created here: the first two gateways create and migrate it together at boot, as on an empty database.
  schema = await createSchema(o.pgUrl, `bench_${randomBytes(4).toString('hex')}`, false)

  const report: string[] = []
  let results: RoundResult[] = []
  const saturation: SaturationResult[] = []
  let half: RoundResult[] = []
  let storm: StormResult | undefined
  try {
    if (o.mode === 'compare') {
      ({ results, storm } = await compare(o, runDir))
    } else if (o.mode === 'saturate') {
      for (const stack of o.stacks) {
        for (const scenario of scenariosOf(o, stack)) saturation.push(await saturate(o, runDir, stack, scenario))
      }
      const baseBest = saturation.find((s) => s.stack === 'baseline' && s.scenario === 'fanout')?.best
      if (baseBest && o.stacks.includes('gateway') && o.scenarios.includes('fanout')) half = await halfRate(o, runDir, baseBest)
      results = saturation.flatMap((s) => s.steps)
    } else {
      report.push(await profile(o, runDir))
    }
  } finally { await teardown() }

  if (o.mode === 'compare') {
    const summaries = summarize(results)
    for (const scenario of o.scenarios) {
      report.push(`## ${scenario}: medians of ${o.repeat} runs, ${o.sockets} sockets`, '', summaryTable(summaries, scenario), '')
      if (scenario === 'fanout') report.push(ratioTable(summaries, scenario), '')
    }
    report.push(`## Event-loop delay of each server over the measured window (ms; window ${o.durationS} s, heartbeat ${HEARTBEAT_INTERVAL_S} s)`, '', loopDelayTable(results), '')
    if (storm) {
      report.push(`## Reconnect storm: ${storm.n} sockets dropped at once and resumed (since/epoch), ${STORM_SCENARIO} at ${storm.rate} events/s, ${o.sockets} sockets`, '',
        stormTable(storm), '', 'back: drop to welcome; caught up: drop to every event up to the welcome\'s position; lost/dup over the whole round.', '')
    }
    report.push('## Targets', '', judge(o, summaries, [], [], storm))
    report.push('', '## Resume', '', child('resume.js', ['--events', '1000', '--rounds', '5']))
    report.push('', '## Connects per second (auth)', '', child('auth-connect.js', ['--production']))
  } else if (o.mode === 'saturate') {
    report.push(`## Saturation: highest rate with p99 < 100 ms and nothing lost, ${o.sockets} sockets`, '', saturationTable(saturation), '')
    if (half.length > 0) report.push('## Fanout at half the baseline\'s highest clean rate', '', summaryTable(summarize(half), 'fanout'), '')
    report.push(`## Event-loop delay of each server over the measured window (ms; window ${o.durationS} s, heartbeat ${HEARTBEAT_INTERVAL_S} s)`, '', loopDelayTable([...results, ...half]), '',
      '## Targets', '', judge(o, [], saturation, half))
  }
  const text = report.join('\n')
  say(); say(text)
  writeFileSync(join(runDir, 'summary.md'), `${text}\n`)
  writeFileSync(join(runDir, 'results.json'), JSON.stringify({ options: o, results, half, storm, saturation: saturation.map((s) => ({ ...s, steps: undefined })) }, null, 2))
  say(`\nwritten: ${join(runDir, 'summary.md')}, results.json`)
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
  await teardown()
  process.exit(1)
})
