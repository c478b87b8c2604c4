// Publisher process: events for random users at a fixed rate, in the form each stack consumes them.
// fanout: PUBLISH straight into the stack's Redis channels (for the gateway, the frame its ingest would publish);
// ingest: POST /api/v1/events batches to the gateways, which store then publish.
import { Agent, request } from 'node:http'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Emitter } from '@socket.io/redis-emitter'
import { Redis } from 'ioredis'
import { toFrame, type AgentEvent } from '../src/events/envelope.js'
import { channelOf, marker, nowUs, userName, userOf, type PublisherCommand, type PublisherReply } from './common.js'
import { onCommand, send } from './ipc.js'

const REASONING = 'Comparing this month\'s compute spend with the last three months to find the services that grew fastest'
const MAX_INFLIGHT_POSTS = 64

let redis: Redis | null = null
function redisOf (url: string): Redis {
  // Auto-pipelining, as the gateway's own command connection: the publishes of one tick leave in one write.
  redis ??= new Redis(url, { enableAutoPipelining: true, connectionName: 'bench-publisher' })
  return redis
}

function context (user: string, tag: string): AgentEvent['context'] {
  return { user_id: user, thread_id: `thread_${tag}_${user}`, run_id: `run_${tag}_${user}`, request_id: `req_${tag}_${user}` }
}

/** The gateway's frame for one event, serialized once: what its ingest publishes after storing. */
function gatewayFrame (seq: number, user: string, tag: string): string {
  const event: AgentEvent = {
    event_id: `evt_${tag}_${seq}`,
    type: 'agent_thinking',
    timestamp: Date.now() / 1000,
    context: context(user, tag),
    agent_name: 'bench_agent',
    fields: { reasoning: REASONING, step_number: seq % 100 },
    data: { bench: marker(seq, nowUs()) }
  }
  return JSON.stringify(toFrame(event))
}

type Emit = (seq: number) => Promise<unknown>

function fanoutEmitter (cmd: PublisherCommand, tag: string): Emit {
  const client = redisOf(cmd.redisUrl)
  if (cmd.stack !== 'socketio') {
    // The baseline gets byte-for-byte the gateway's frame: same size on the wire, same work for Redis.
    return (seq) => {
      const user = userName(userOf(seq, cmd.users, cmd.seed))
      return client.publish(channelOf(user), gatewayFrame(seq, user, tag))
    }
  }
  const frameObject = (seq: number, user: string): unknown => JSON.parse(gatewayFrame(seq, user, tag))
  if (cmd.sioMode === 'classic') {
    const emitter = new Emitter(client)
    return async (seq) => {
      const user = userName(userOf(seq, cmd.users, cmd.seed))
      emitter.to(`user:${user}`).emit('agent_event', frameObject(seq, user))
    }
  }
  // The sharded adapter has no emitter: publish its ClusterAdapter BROADCAST message on the room's shard channel.
  return (seq) => {
    const user = userName(userOf(seq, cmd.users, cmd.seed))
    const room = `user:${user}`
    const message = {
      uid: 'emitter',
      nsp: '/',
      type: 3,
      data: { opts: { rooms: [room], except: [], flags: {} }, packet: { type: 2, data: ['agent_event', frameObject(seq, user)], nsp: '/' } }
    }
    return client.spublish(`socket.io#/#${room}#`, JSON.stringify(message))
  }
}

const agent = new Agent({ keepAlive: true, maxSockets: MAX_INFLIGHT_POSTS })
let inflight = 0

function post (base: string, cmd: PublisherCommand, body: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(`${base}/api/v1/events`, {
      method: 'POST',
      agent,
      timeout: 30000,
      headers: { 'content-type': 'application/json', 'x-service-id': cmd.service.id, 'x-service-secret': cmd.service.secret }
    }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', () => resolve(0))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve(0))
    req.end(body)
  })
}

function ingestEvent (seq: number, cmd: PublisherCommand, tag: string): object {
  const user = userName(userOf(seq, cmd.users, cmd.seed))
  return {
    type: 'agent_thinking',
    event_id: `evt_${tag}_${seq}`,
    context: context(user, tag),
    agent_name: 'bench_agent',
    reasoning: REASONING,
    step_number: seq % 100,
    data: { bench: marker(seq, nowUs()) }
  }
}

async function run (cmd: PublisherCommand): Promise<PublisherReply> {
  const tag = randomBytes(4).toString('hex')
  const total = Math.round(cmd.rate * cmd.durationMs / 1000)
  const failed: number[] = []
  const pending = new Set<Promise<unknown>>()
  const track = (p: Promise<unknown>): void => { pending.add(p); p.then(() => pending.delete(p), () => pending.delete(p)) }
  const emit = cmd.scenario === 'fanout' ? fanoutEmitter(cmd, tag) : null
  let queued: number[] = []
  let next = 0
  let target = 0
  const start = performance.now()
  // Open loop: each 1 ms tick sends what is due by then. Bounded: a publisher that falls behind stops at the deadline.
  const deadline = start + cmd.durationMs + 10000
  while ((next < total || queued.length > 0) && performance.now() < deadline) {
    const due = Math.min(total, Math.floor((performance.now() - start) * cmd.rate / 1000))
    if (emit) {
      for (; next < due; next++) {
        const seq = next
        track(emit(seq).catch(() => { failed.push(seq) }))
      }
    } else {
      for (; next < due; next++) queued.push(next)
      // Batches of `batch`; when every connection is busy the queue grows and leaves in bigger batches later.
      while (queued.length > 0 && inflight < MAX_INFLIGHT_POSTS) {
        const seqs = queued.slice(0, Math.min(cmd.batch, 500))
        queued = queued.slice(seqs.length)
        const body = JSON.stringify({ events: seqs.map((s) => ingestEvent(s, cmd, tag)) })
        inflight++
        const base = cmd.http[target++ % cmd.http.length]!
        track(post(base, cmd, body).then((status) => {
          inflight--
          if (status !== 202) failed.push(...seqs)
        }))
      }
    }
    await sleep(1)
  }
  // What is in flight may finish; bounded too.
  await Promise.race([Promise.all(pending), sleep(15000)])
  const sent = next - queued.length
  return { kind: 'done', sent, failed, elapsedMs: performance.now() - start }
}

onCommand<PublisherCommand>(async (cmd) => {
  try {
    send(await run(cmd))
  } catch (err) {
    send({ kind: 'done', sent: 0, failed: [], elapsedMs: 0, error: (err as Error).message } satisfies PublisherReply)
  }
})
