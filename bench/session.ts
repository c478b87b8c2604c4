// One stack's session: its two servers, the load generators and their sockets, then any number of measured rounds.
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { isIngest, KEY_PREFIX, nowUs, serverOf, userName, type Placement, type PublisherCommand, type PublisherReply, type Scenario, type Stack, type StormReply, type StreamPositions } from './common.js'
import { HISTORY } from './gateway-defaults.js'
import { mergeInto, newHistogram, percentiles } from './histogram.js'
import { backendPids, readStreams, saveStreams, storedBetween, truncateEvents } from './infra.js'
import type { LoopDelayReply } from './loop-delay.js'
import { ask, cpuUs, machineBusyUs, rssKb, spawnChild, stopChild, type Child } from './procs.js'
import { isReply, type RoundResult } from './round-result.js'
import { DEV_SECRET, pgAppNames, SERVICE, startStack, type RunningStack, type StackOptions } from './stacks.js'
import { mergeStorm, STORM_SCENARIO, stormSlots, type StormResult } from './storm.js'

export type { RoundResult } from './round-result.js'

/** The gateway's ingest stream and its dead letters (stream-ingest: REDIS_KEY_PREFIX + "ingest"). */
export const INGEST_STREAM = `${KEY_PREFIX}ingest`

export interface SessionOptions extends StackOptions {
  stack: Stack
  sockets: number
  loadgens: number
  placement: Placement
  seed: number
  batch: number
  /** Concurrent producers of the HTTP ingest scenarios. */
  producers: number
  /** Longest wait, before each round, for the rest of the machine to be quiet. */
  quietWaitS: number
  /** Rotated per session so TIME_WAIT left by the previous session's sockets never collides with this one's. */
  addressOffset: number
}

export class Session {
  private running: RunningStack | null = null
  private loadgens: Child[] = []
  private publisher: Child | null = null
  private rssBefore = 0
  private rssIdle = 0
  connected = 0
  connectFailed = 0
  connectS = 0
  /** Both servers' CPU over the connect phase, per connected socket (µs). */
  connectServerUs = 0
  /** The connect phase on the monotonic clock the profiles use (µs): profile mode summarizes it on its own. */
  connectWindow = { startUs: 0, endUs: 0 }
  /** The last storm, from the drop to the last socket back and caught up, on the same clock. */
  stormWindow = { startUs: 0, endUs: 0 }
  /** Gateway: each user's stream position, from the welcome frames, then as the fanout rounds left it. */
  private streams: StreamPositions = { seq: [], epoch: [] }

  constructor (private readonly o: SessionOptions, private readonly redis: Child) {}

  serverPids (): number[] { return this.running?.servers.map((s) => s.child.pid) ?? [] }
  private rss (): number { return this.serverPids().reduce((sum, pid) => sum + rssKb(pid), 0) }
  /** A GC can move RSS by megabytes between two readings: the median of five over a second is steadier. */
  private async steadyRss (): Promise<number> {
    const samples: number[] = []
    for (let i = 0; i < 5; i++) { samples.push(this.rss()); await sleep(250) }
    return samples.sort((a, b) => a - b)[2]!
  }

  /** `beforeConnect` runs once the servers are up and before any socket opens (the heap census snapshots there). */
  async start (beforeConnect?: (serverPids: number[]) => Promise<void>): Promise<void> {
    const o = this.o
    this.running = await startStack(o.stack, o)
    await sleep(1000)
    this.rssBefore = await this.steadyRss()
    if (beforeConnect) await beforeConnect(this.serverPids())
    const dist = o.benchDist
    const log = (name: string): string => join(o.logDir, `${name}.log`)
    this.publisher = spawnChild('publisher', process.execPath, [join(dist, 'publisher.js')], { logFile: log('publisher'), ipc: true, env: process.env })
    const plan = this.plan().map((p) => p.map(([user, , server]): [number, number] => [user, server]))
    // Several 127.0.0.x sources: each bound source address has its own ~28k ephemeral ports.
    const addresses = Array.from({ length: 8 }, (_, i) => `127.0.0.${2 + ((o.addressOffset * 8 + i) % 250)}`)
    const servers = this.running.servers.map((s) => ({ url: s.ws }))
    const connectStartUs = nowUs()
    const serversCpu = (): number => this.serverPids().reduce((sum, pid) => sum + cpuUs(pid), 0)
    const serversCpu0 = serversCpu()
    const replies = await Promise.all(plan.map(async (sockets, i) => {
      const lg = spawnChild(`loadgen-${i}`, process.execPath, [join(dist, 'loadgen.js')], { logFile: log(`loadgen-${i}`), ipc: true, env: process.env })
      this.loadgens.push(lg)
      const timeoutMs = 15000
      // Bounded: at most every socket's timeout, in waves of `concurrency`, plus slack.
      const limit = Math.ceil(sockets.length / 64) * timeoutMs + 60000
      return await ask(lg, { cmd: 'connect', stack: o.stack, servers, sockets, localAddresses: addresses, devSecret: DEV_SECRET, concurrency: 64, timeoutMs }, isReply('connected'), limit)
    }))
    this.connectS = Math.max(...replies.map((r) => r.elapsedMs)) / 1000
    this.connectWindow = { startUs: connectStartUs, endUs: nowUs() }
    const connectedNow = replies.reduce((n, r) => n + r.ok, 0)
    this.connectServerUs = (serversCpu() - serversCpu0) / Math.max(1, connectedNow)
    for (const r of replies) {
      r.positions.seq.forEach((seq, u) => {
        if (seq !== null && seq >= (this.streams.seq[u] ?? -1)) { this.streams.seq[u] = seq; this.streams.epoch[u] = r.positions.epoch[u] ?? '' }
      })
    }
    this.connected = replies.reduce((n, r) => n + r.ok, 0)
    this.connectFailed = replies.reduce((n, r) => n + r.failed, 0)
    const firstError = replies.find((r) => r.firstError)?.firstError
    if (this.connectFailed > 0) process.stderr.write(`bench: ${o.stack}: ${this.connectFailed} sockets failed to connect (${firstError ?? ''})\n`)
    await sleep(2000)
    this.rssIdle = await this.steadyRss()
  }

  /** Each load generator's sockets, in the order it opens them: [user, the user's socket 0 or 1, server]. */
  private plan (): Array<Array<[number, number, number]>> {
    const o = this.o
    const plan = Array.from({ length: o.loadgens }, () => [] as Array<[number, number, number]>)
    for (let u = 0; u < o.sockets / 2; u++) {
      for (let s = 0; s < 2; s++) plan[(u * 2 + s) % o.loadgens]!.push([u, s, serverOf(u, s, o.placement)])
    }
    return plan
  }

  /** `during` starts with the measured window and is awaited before the deliveries are counted. */
  async round (scenario: Scenario, rate: number, durationS: number, warmupS: number, during?: () => Promise<void>): Promise<RoundResult> {
    const o = this.o
    const running = this.running
    const publisher = this.publisher
    if (running === null || publisher === null) throw new Error('session not started')
    if (isIngest(scenario)) await truncateEvents(o.pgUrl, o.pgSchema)
    const gatewayFanout = scenario === 'fanout' && o.stack === 'gateway'
    if (gatewayFanout) await this.refreshStreams()
    await this.waitQuiet()
    await Promise.all(this.loadgens.map((lg) => ask(lg, { cmd: 'reset' }, isReply('reset'), 10000)))

    const users = o.sockets / 2
    const warmupMs = warmupS * 1000
    const windowMs = durationS * 1000
    // The publisher runs past the window's end so the window never sees its ramp-down.
    const command: PublisherCommand = {
      cmd: 'run',
      stack: o.stack,
      scenario,
      redisUrl: o.redisUrl,
      http: running.servers.map((s) => s.http),
      service: SERVICE,
      rate,
      durationMs: warmupMs + windowMs + 500,
      users,
      seed: o.seed,
      batch: o.batch,
      producers: o.producers,
      sioMode: o.sioMode,
      history: HISTORY,
      streamKey: INGEST_STREAM,
      ...(gatewayFanout ? { streams: this.streams } : {})
    }
    const startUs = nowUs() + warmupMs * 1000
    const endUs = startUs + windowMs * 1000
    for (const lg of this.loadgens) lg.proc.send({ cmd: 'window', startUs, endUs })
    const roles = { servers: this.serverPids(), redis: [this.redis.pid], postgres: [] as number[], publisher: [publisher.pid], loadgen: this.loadgens.map((l) => l.pid) }
    // Per pid, so a process that exits mid-window (an idle PostgreSQL backend) counts what it used before, not minus all.
    const last = new Map<number, number>()
    const cpu = (): Record<keyof typeof roles, number> => {
      const of = (pids: number[]): number => pids.reduce((sum, p) => {
        const now = cpuUs(p)
        if (Number.isFinite(now)) last.set(p, now)
        return sum + (last.get(p) ?? 0)
      }, 0)
      return { servers: of(roles.servers), redis: of(roles.redis), postgres: of(roles.postgres), publisher: of(roles.publisher), loadgen: of(roles.loadgen) }
    }

    const dead0 = scenario === 'ingest-stream' ? await this.deadLetters() : 0
    const done = ask(publisher, command, (m): m is PublisherReply => (m as { kind?: unknown } | null)?.kind === 'done', warmupMs + windowMs + 60000)
    await sleep(warmupMs)
    // After the warm-up the pools have opened their connections: these are the backends of the window.
    if (o.stack === 'gateway') roles.postgres = await backendPids(o.pgUrl, pgAppNames(o.pgSchema)).catch(() => [])
    const stats0 = await this.redisCommandStats()
    const cpu0 = cpu()
    const busy0 = machineBusyUs()
    const t0 = nowUs()
    const wall0 = Date.now()
    await this.loopDelay('reset')
    // Settled into a value now, so that a failure is not an unhandled rejection while the window runs.
    const extra = during?.().then(() => null, (err: unknown) => err)
    let rssPeak = 0
    // RSS sampled through the window: the peak under load is the figure, not one arbitrary instant.
    const samples = Math.max(1, Math.floor(windowMs / 500))
    for (let i = 0; i < samples; i++) {
      await sleep(Math.max(0, (startUs + (i + 1) * 500_000 - nowUs()) / 1000))
      rssPeak = Math.max(rssPeak, this.rss())
    }
    await sleep(Math.max(0, (endUs - nowUs()) / 1000))
    const cpu1 = cpu()
    const busy1 = machineBusyUs()
    const t1 = nowUs()
    const wall1 = Date.now()
    // Read after the window's clock stops: its own round trip is not counted in the window.
    const stats1 = await this.redisCommandStats()
    const loopDelay = await this.loopDelay('read')
    const windowUs = t1 - t0
    const pub = await done
    if (pub.error) throw new Error(`publisher: ${pub.error}`)
    if (gatewayFanout && pub.streamSeq) await this.recordStreams(pub.streamSeq)
    const failure = await extra
    if (failure) throw failure instanceof Error ? failure : new Error(String(failure))

    await this.drain()
    const results = await Promise.all(this.loadgens.map((lg) => ask(lg, { cmd: 'finish', sent: pub.sent, seed: o.seed, users, excluded: pub.failed }, isReply('result'), 60000)))
    const histogram = newHistogram()
    for (const r of results) mergeInto(histogram, r.histogram)
    const sum = (f: (r: typeof results[number]) => number): number => results.reduce((s, r) => s + f(r), 0)
    const latency = percentiles(histogram, Math.max(...results.map((r) => r.maxUs)))
    const inWindow = sum((r) => r.inWindow)
    const expected = sum((r) => r.expected)
    const perEvent = expected / Math.max(1, pub.sent - pub.failed.length)
    const per = (role: keyof typeof roles): number => (cpu1[role] - cpu0[role]) / Math.max(1, inWindow)
    const cpuUsPerMsg = { servers: per('servers'), redis: per('redis'), postgres: per('postgres'), publisher: per('publisher'), loadgen: per('loadgen'), all: 0 }
    cpuUsPerMsg.all = cpuUsPerMsg.servers + cpuUsPerMsg.redis + cpuUsPerMsg.postgres + cpuUsPerMsg.publisher + cpuUsPerMsg.loadgen
    const lost = sum((r) => r.lost) + pub.failed.length * perEvent
    const duplicates = sum((r) => r.duplicates)
    const closedSockets = sum((r) => r.closed)
    const achievedRate = pub.sent / (pub.elapsedMs / 1000)
    const kbPerSocket = (kb: number): number => (kb - this.rssBefore) / Math.max(1, this.connected)
    const storedEvents = isIngest(scenario) ? await storedBetween(o.pgUrl, o.pgSchema, wall0, wall1).catch(() => NaN) : 0
    const perStored = (role: keyof typeof roles): number => isIngest(scenario) ? (cpu1[role] - cpu0[role]) / Math.max(1, storedEvents) : NaN
    const cpuUsPerStored = { servers: perStored('servers'), postgres: perStored('postgres'), redis: perStored('redis'), durable: 0 }
    cpuUsPerStored.durable = cpuUsPerStored.servers + cpuUsPerStored.postgres + cpuUsPerStored.redis
    const deadLettered = scenario === 'ingest-stream' ? await this.deadLetters() - dead0 : 0
    const redisCommands = [...stats1].map(([command, s1]) => {
      const s0 = stats0.get(command) ?? { calls: 0, usec: 0 }
      return { command, calls: s1.calls - s0.calls, usec: s1.usec - s0.usec }
    }).filter((c) => c.calls > 0).sort((a, b) => b.usec - a.usec)
    const ours = (Object.keys(roles) as Array<keyof typeof roles>).reduce((sum, role) => sum + cpu1[role] - cpu0[role], 0)
    return {
      stack: o.stack,
      scenario,
      rate,
      achievedRate,
      connected: this.connected,
      connectFailed: this.connectFailed,
      eventsPerS: inWindow / perEvent / (windowUs / 1e6),
      messagesPerS: inWindow / (windowUs / 1e6),
      latency,
      expected,
      lost,
      duplicates,
      closedSockets,
      connectS: this.connectS,
      connectServerUs: this.connectServerUs,
      storedEvents,
      cpuUsPerStored,
      deadLettered,
      redisCommands,
      loopDelay,
      rssIdleKbPerSocket: kbPerSocket(this.rssIdle),
      rssLoadKbPerSocket: kbPerSocket(rssPeak),
      cpuUsPerMsg,
      serverCores: (cpu1.servers - cpu0.servers) / windowUs,
      foreignCores: Math.max(0, (busy1 - busy0 - ours) / windowUs),
      windowStartUs: t0,
      windowEndUs: t1,
      clean: latency.p99 < 100 && lost === 0 && duplicates === 0 && closedSockets === 0 && this.connectFailed === 0 && deadLettered === 0 && achievedRate >= 0.97 * rate
    }
  }

  /** Calls and time per command from the bench's Redis (INFO commandstats): where Redis's share of a round goes. */
  private async redisCommandStats (): Promise<Map<string, { calls: number, usec: number }>> {
    const text = await this.askRedis(async (client) => await client.info('commandstats'), '')
    const stats = new Map<string, { calls: number, usec: number }>()
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) stats.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) })
    return stats
  }

  /** One question to the bench's Redis on a connection of its own, `failed` if it cannot be asked. */
  private async askRedis<T> (ask: (client: Redis) => Promise<T>, failed: T): Promise<T> {
    const client = new Redis(this.o.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
    try {
      await client.connect()
      return await ask(client)
    } catch { return failed } finally { client.disconnect() }
  }

  /**
   * A gateway round (events through ingest, see STORM_SCENARIO) with a reconnect storm in its window: `count`
   * sockets, at most one per user so every user keeps a live one, dropped at once a quarter into the window (at
   * most 5 s in) and resumed with since/epoch.
   */
  async stormRound (rate: number, count: number, durationS: number, warmupS: number, timeoutMs = 60000): Promise<StormResult> {
    if (this.o.stack !== 'gateway') throw new Error('a storm resumes gateway streams: gateway stack only')
    const slots = stormSlots(this.plan(), count)
    let replies: StormReply[] = []
    const round = await this.round(STORM_SCENARIO, rate, durationS, warmupS, async () => {
      await sleep(Math.min(5, durationS / 4) * 1000)
      const startUs = nowUs()
      replies = await Promise.all(this.loadgens.map((lg, i) =>
        ask(lg, { cmd: 'storm', slots: slots[i] ?? [], timeoutMs, concurrency: 0 }, isReply('storm'), timeoutMs + 30000)))
      this.stormWindow = { startUs, endUs: nowUs() }
    })
    return mergeStorm(round, replies)
  }

  /** Resets (window start) or reads (window end) every server's event-loop delay histogram. */
  private async loopDelay (op: 'reset' | 'read'): Promise<RoundResult['loopDelay']> {
    const accept = (m: unknown): m is LoopDelayReply => (m as Partial<LoopDelayReply> | null)?.kind === 'loop-delay' && (m as LoopDelayReply).op === op
    return await Promise.all((this.running?.servers ?? []).map(async (s) => {
      const r = await ask(s.child, { cmd: 'loop-delay', op }, accept, 5000).catch(() => null)
      return { server: s.child.name, p50: r?.p50 ?? NaN, p99: r?.p99 ?? NaN, max: r?.max ?? NaN, gcMs: r?.gcMs ?? NaN, gcMaxMs: r?.gcMaxMs ?? NaN, gcMajor: r?.gcMajor ?? NaN }
    }))
  }

  /** PostgreSQL's view of the streams wins where it has a row: an ingest round may have handed out offsets since. */
  private async refreshStreams (): Promise<void> {
    const rows = await readStreams(this.o.pgUrl, this.o.pgSchema).catch((err: unknown) => {
      process.stderr.write(`bench: cannot read the users' stream positions: ${String(err)}\n`)
      return new Map<string, { seq: number, epoch: string }>()
    })
    for (let u = 0; u < this.o.sockets / 2; u++) {
      const row = rows.get(userName(u))
      if (row && row.seq >= (this.streams.seq[u] ?? 0)) { this.streams.seq[u] = row.seq; this.streams.epoch[u] = row.epoch }
      this.streams.seq[u] ??= 0
    }
  }

  private async recordStreams (seq: number[]): Promise<void> {
    this.streams.seq = seq
    const rows = seq.map((s, u) => ({ user: userName(u), seq: s, epoch: this.streams.epoch[u] ?? '' })).filter((r) => r.epoch !== '')
    await saveStreams(this.o.pgUrl, this.o.pgSchema, rows).catch((err: unknown) => {
      process.stderr.write(`bench: cannot record the published offsets (a later ingest round may reuse them): ${String(err)}\n`)
    })
  }

  /** Entries in the gateway's dead-letter stream so far. */
  private async deadLetters (): Promise<number> {
    return await this.askRedis(async (client) => await client.xlen(`${INGEST_STREAM}:dead`), NaN)
  }

  /**
   * Other engineers' test suites share these 2 cores. Before a round, wait (at most quietWaitS) for a second in
   * which the rest of the machine keeps less than a quarter of a core busy; the round records the noise anyway.
   */
  private async waitQuiet (): Promise<void> {
    const deadline = Date.now() + this.o.quietWaitS * 1000
    const ours = (): number => [...this.serverPids(), this.redis.pid, this.publisher?.pid ?? 0, ...this.loadgens.map((l) => l.pid)]
      .reduce((sum, p) => sum + (p > 0 && Number.isFinite(cpuUs(p)) ? cpuUs(p) : 0), 0)
    while (Date.now() < deadline) {
      const [m0, o0, t0] = [machineBusyUs(), ours(), nowUs()]
      await sleep(1000)
      if ((machineBusyUs() - m0 - (ours() - o0)) / (nowUs() - t0) < 0.25) return
    }
  }

  /** Waits until deliveries stop arriving (quiet for 1 s), at most 20 s: a saturated server may still be catching up. */
  private async drain (): Promise<void> {
    let last = -1
    let quietSince = Date.now()
    const deadline = Date.now() + 20000
    while (Date.now() < deadline) {
      const counts = await Promise.all(this.loadgens.map((lg) => ask(lg, { cmd: 'count' }, isReply('count'), 10000)))
      const total = counts.reduce((s, c) => s + c.received, 0)
      if (total !== last) { last = total; quietSince = Date.now() } else if (Date.now() - quietSince >= 1000) return
      await sleep(250)
    }
  }

  /** The servers' HTTP addresses (the soak reads their /metrics). */
  serverUrls (): string[] { return this.running?.servers.map((s) => s.http) ?? [] }

  /** Closes every client socket (the load generators stay), so the servers can be checked for leaks. */
  async closeClients (): Promise<void> {
    await Promise.all(this.loadgens.map(async (lg) => { await ask(lg, { cmd: 'close' }, isReply('closed'), 10000).catch(() => undefined) }))
    this.clientsClosed = true
  }

  /** Set once the load generators were told to close: they may have exited, so they are not asked again. */
  private clientsClosed = false

  /** Bounded and never throws: every child of the session is stopped, gracefully first (the CPU profile needs it). */
  async stop (): Promise<void> {
    await Promise.all(this.loadgens.map(async (lg) => {
      if (!this.clientsClosed) await ask(lg, { cmd: 'close' }, isReply('closed'), 5000).catch(() => undefined)
      await stopChild(lg, 2000)
    }))
    if (this.publisher) await stopChild(this.publisher, 2000)
    await Promise.all((this.running?.servers ?? []).map((s) => stopChild(s.child, 10000)))
    this.loadgens = []
    this.publisher = null
    this.running = null
  }
}
