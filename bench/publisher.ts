// Publisher process: events for random users at a fixed rate, in the form each stack consumes them.
// fanout: the wire frame ingest publishes (`toWire`, offsets contiguous per user), through the gateway broker's own
// script (hot history + PUBLISH); the references get the same bytes. ingest-*: the gateway's three ways in.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Emitter } from '@socket.io/redis-emitter'
import { Redis } from 'ioredis'
import { Pool } from 'undici'
import { toWire, type AgentEvent } from '../src/events/envelope.js'
import { createRedisBroker } from '../src/plugins/app/fanout/redis-broker.js'
import { channelOf, KEY_PREFIX, marker, REASONING, nowUs, userName, userOf, type PublisherCommand, type PublisherReply } from './common.js'
import { onCommand, send } from './ipc.js'

/** The epoch of the references' frames: they keep no stream, but their frames have the gateway's size. */
const REFERENCE_EPOCH = 'bench0000000'

let redis: Redis | null = null
function redisOf (url: string): Redis {
  // Auto-pipelining, as the gateway's own command connection: the publishes of one tick leave in one write.
  redis ??= new Redis(url, { enableAutoPipelining: true, connectionName: 'bench-publisher' })
  return redis
}

function context (user: string, tag: string): AgentEvent['context'] {
  return { user_id: user, thread_id: `thread_${tag}_${user}`, run_id: `run_${tag}_${user}`, request_id: `req_${tag}_${user}` }
}

function agentEvent (n: number, user: string, tag: string): AgentEvent {
  return {
    event_id: `evt_${tag}_${n}`,
    type: 'agent_thinking',
    timestamp: Date.now() / 1000,
    context: context(user, tag),
    agent_name: 'bench_agent',
    fields: { reasoning: REASONING, step_number: n % 100 },
    data: { bench: marker(n, nowUs()) }
  }
}

/**
 * Publishes the events due in one tick (per event, except where production publishes a group at once) and
 * resolves with those that failed.
 */
type Emit = (ns: number[]) => Promise<number[]>
const each = (one: (n: number) => Promise<unknown>): Emit => async (ns) => {
  const settled = await Promise.allSettled(ns.map(one))
  return ns.filter((_, i) => settled[i]!.status === 'rejected')
}

/** Per-user offsets as the gateway hands them out: the last one per user, counted on from where the stream stands. */
interface Offsets { seq: number[], epoch: string[] }

function fanoutEmitter (cmd: PublisherCommand, tag: string, offsets: Offsets): Emit {
  const client = redisOf(cmd.redisUrl)
  const wire = (n: number, u: number): { user: string, seq: number, frame: string } => {
    const user = userName(u)
    const seq = ++offsets.seq[u]!
    return { user, seq, frame: toWire({ ...agentEvent(n, user, tag), seq, epoch: offsets.epoch[u] || REFERENCE_EPOCH }) }
  }
  if (cmd.stack === 'gateway') {
    // The gateway broker's own publish: its Lua script adds the frames to the users' hot history and PUBLISHes them,
    // so a socket whose cursor sees a gap fills it from there, as in production. The events of one tick go as one
    // group, as ingest publishes a committed group (one script call per 200 events). This process never subscribes.
    const idle = new Redis(cmd.redisUrl, { lazyConnect: true })
    const broker = createRedisBroker({ command: client, subscriber: idle, sharded: false, connect: () => Promise.reject(new Error('not used')) },
      () => undefined, KEY_PREFIX, cmd.history)
    return async (ns) => {
      await broker.publishEvents(ns.map((n) => {
        const { user, seq, frame } = wire(n, userOf(n, cmd.users, cmd.seed))
        return { userId: user, seq, frame }
      }))
      return []
    }
  }
  if (cmd.stack === 'baseline') {
    // Byte-for-byte the gateway's frame, on a channel of the gateway's shape: same size on the wire, same Redis fanout.
    return each((n) => {
      const { user, frame } = wire(n, userOf(n, cmd.users, cmd.seed))
      return client.publish(channelOf(user), frame)
    })
  }
  const frameObject = (n: number): { user: string, frame: unknown } => {
    const { user, frame } = wire(n, userOf(n, cmd.users, cmd.seed))
    return { user, frame: JSON.parse(frame) }
  }
  if (cmd.sioMode === 'classic') {
    const emitter = new Emitter(client)
    return each(async (n) => {
      const { user, frame } = frameObject(n)
      emitter.to(`user:${user}`).emit('agent_event', frame)
    })
  }
  // The sharded adapter has no emitter: publish its ClusterAdapter BROADCAST message on the room's shard channel.
  return each((n) => {
    const { user, frame } = frameObject(n)
    const room = `user:${user}`
    const message = {
      uid: 'emitter',
      nsp: '/',
      type: 3,
      data: { opts: { rooms: [room], except: [], flags: {} }, packet: { type: 2, data: ['agent_event', frame], nsp: '/' } }
    }
    return client.spublish(`socket.io#/#${room}#`, JSON.stringify(message))
  })
}

/** How long a batching producer holds its first event for more to join it (Kafka's linger.ms). */
const LINGER_MS = 50

/** An event as a producer sends it; the marker's timestamp is taken now, just before it leaves. */
function ingestEvent (n: number, cmd: PublisherCommand, tag: string): object {
  const user = userName(userOf(n, cmd.users, cmd.seed))
  return {
    type: 'agent_thinking',
    event_id: `evt_${tag}_${n}`,
    context: context(user, tag),
    agent_name: 'bench_agent',
    reasoning: REASONING,
    step_number: n % 100,
    data: { bench: marker(n, nowUs()) }
  }
}

/** POSTs to the gateways over keep-alive connections, alternating between them; bodies are built when they leave. */
class Producers {
  private readonly pools: Pool[]
  private turn = 0
  inflight = 0

  constructor (private readonly cmd: PublisherCommand) {
    // ingest-single: `producers` connections in all, each a producer with one request at a time.
    const perGateway = Math.max(1, Math.ceil(cmd.producers / cmd.http.length))
    this.pools = cmd.http.map((base) => new Pool(base, { connections: perGateway, pipelining: 1, keepAliveTimeout: 60_000 }))
  }

  /** Resolves true when the gateway answered 202 (stored, or already stored). */
  async post (body: string): Promise<boolean> {
    const pool = this.pools[this.turn++ % this.pools.length]!
    this.inflight++
    try {
      const res = await pool.request({
        path: '/api/v1/events',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-service-id': this.cmd.service.id, 'x-service-secret': this.cmd.service.secret },
        body,
        headersTimeout: 30_000,
        bodyTimeout: 30_000
      })
      await res.body.dump()
      return res.statusCode === 202
    } catch {
      return false
    } finally { this.inflight-- }
  }

  async close (): Promise<void> {
    await Promise.all(this.pools.map((p) => p.close().catch(() => undefined)))
  }
}

let offsets: Offsets | null = null

async function run (cmd: PublisherCommand): Promise<PublisherReply> {
  const tag = randomBytes(4).toString('hex')
  const total = Math.round(cmd.rate * cmd.durationMs / 1000)
  const failed: number[] = []
  const pending = new Set<Promise<unknown>>()
  const track = (p: Promise<unknown>): void => { pending.add(p); p.then(() => pending.delete(p), () => pending.delete(p)) }
  if (cmd.scenario === 'fanout') {
    // The gateway's positions come from the parent (the welcome frames, then PostgreSQL); the references count on.
    offsets = cmd.streams ? { seq: [...cmd.streams.seq], epoch: [...cmd.streams.epoch] } : offsets ?? { seq: new Array<number>(cmd.users).fill(0), epoch: [] }
  }
  const emit = cmd.scenario === 'fanout'
    ? fanoutEmitter(cmd, tag, offsets!)
    : cmd.scenario === 'ingest-stream'
      ? ((client: Redis) => each((n) => client.xadd(cmd.streamKey, '*', 'event', JSON.stringify(ingestEvent(n, cmd, tag)))))(redisOf(cmd.redisUrl))
      : null
  const producers = emit === null ? new Producers(cmd) : null
  const single = cmd.scenario === 'ingest-single'
  let queued: number[] = []
  let next = 0
  let inflight = 0
  const maxInflight = Math.max(10_000, cmd.rate)
  const start = performance.now()
  // Open loop: each 1 ms tick sends what is due by then. Bounded: a publisher that falls behind stops at the deadline.
  const deadline = start + cmd.durationMs + 10000
  while ((next < total || queued.length > 0) && performance.now() < deadline) {
    const due = Math.min(total, Math.floor((performance.now() - start) * cmd.rate / 1000))
    if (emit) {
      // Bounded: past a second of events awaiting Redis's answer, due events wait here (unsent, so the round is
      // unclean) instead of piling up in the client's queue until this process runs out of memory.
      const ns: number[] = []
      for (; next < due && inflight + ns.length < maxInflight; next++) ns.push(next)
      if (ns.length > 0) {
        inflight += ns.length
        track(emit(ns).then((lost) => { failed.push(...lost) }, () => { failed.push(...ns) }).finally(() => { inflight -= ns.length }))
      }
    } else {
      for (; next < due; next++) queued.push(next)
      // A batching producer sends a full batch, or what it has once its oldest event has waited LINGER_MS (or at
      // the end); a single-event producer sends each at once. When every producer is busy the queue grows: the
      // events wait (and the rate achieved falls short of R).
      const ready = (): boolean => single || queued.length >= cmd.batch || next >= total ||
        performance.now() - (start + queued[0]! * 1000 / cmd.rate) >= LINGER_MS
      while (queued.length > 0 && producers!.inflight < cmd.producers && ready()) {
        const ns = queued.slice(0, single ? 1 : cmd.batch)
        queued = queued.slice(ns.length)
        const body = single ? JSON.stringify(ingestEvent(ns[0]!, cmd, tag)) : JSON.stringify({ events: ns.map((n) => ingestEvent(n, cmd, tag)) })
        track(producers!.post(body).then((ok) => { if (!ok) failed.push(...ns) }))
      }
    }
    await sleep(1)
  }
  // What is in flight may finish; bounded too.
  await Promise.race([Promise.all(pending), sleep(15000)])
  await producers?.close()
  const sent = next - queued.length
  const reply: PublisherReply = { kind: 'done', sent, failed, elapsedMs: performance.now() - start }
  if (cmd.scenario === 'fanout' && cmd.stack === 'gateway') reply.streamSeq = offsets!.seq
  return reply
}

onCommand<PublisherCommand>(async (cmd) => {
  try {
    send(await run(cmd))
  } catch (err) {
    send({ kind: 'done', sent: 0, failed: [], elapsedMs: 0, error: (err as Error).message } satisfies PublisherReply)
  }
})
