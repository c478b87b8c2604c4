// Redis's own cost of a publish: the gateway broker's (hot history and PUBLISH) against a bare PUBLISH, same frames.
// `npm run bench:broker [-- --users 5000 --events 60000 --group 10 --rounds 3]`: a private redis-server, one
// subscriber connection on every user's channel (as an instance with sockets of every user), groups of --group
// events for random users as one tick's committed group; Redis's CPU per event from its own INFO, and its memory
// per frame kept. Each round runs every variant once, in turn, so a drift of the machine hits them alike.
import { join } from 'node:path'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { Redis } from 'ioredis'
import { toWire } from '../src/events/envelope.js'
import { createRedisBroker } from '../src/plugins/app/fanout/redis-broker.js'
import { userChannel } from '../src/plugins/app/fanout/broker.js'
import type { PublishedFrame } from '../src/plugins/app/fanout/broker.js'
import type { RedisClient } from '../src/plugins/external/redis.js'
import { REASONING } from './common.js'
import { startRedis, stopRedis } from './infra.js'

const args = process.argv.slice(2)
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? dflt : Number(args[i + 1])
}
const USERS = flag('users', 5000)
const EVENTS = flag('events', 60000)
const GROUP = flag('group', 10)
const ROUNDS = flag('rounds', 3)
const PREFIX = 'bb:'

const server = await startRedis(join(mkdtempSync(join(tmpdir(), 'aeg-broker-')), 'redis.log'))
const command = new Redis(server.url, { enableAutoPipelining: true })
const subscriber = new Redis(server.url)
const broker = createRedisBroker({ command: command as RedisClient, subscriber: subscriber as RedisClient, sharded: false, connect: async () => command as RedisClient }, () => undefined, PREFIX, { size: 2000, ttlMs: 3600_000 })
for (let u = 0; u < USERS; u += 1000) await subscriber.subscribe(...Array.from({ length: Math.min(1000, USERS - u) }, (_, i) => userChannel(PREFIX, `u${u + i}`)))

const cpuUs = async (): Promise<number> => {
  const info = await command.info('cpu')
  const get = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)![1])
  return (get('used_cpu_sys') + get('used_cpu_user')) * 1e6
}
const memory = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await command.info('memory'))![1])

const seqs = new Map<string, number>()
function frames (): PublishedFrame[] {
  return Array.from({ length: EVENTS }, (_, n) => {
    const userId = `u${Math.floor(Math.random() * USERS)}`
    const seq = (seqs.get(userId) ?? 0) + 1
    seqs.set(userId, seq)
    const context = { user_id: userId, thread_id: `thread_${userId}`, run_id: `run_${userId}`, request_id: `req_${n}` }
    const frame = toWire({ event_id: `evt_${n}`, type: 'agent_thinking', timestamp: 1796593598.978, context, agent_name: 'bench_agent', fields: { reasoning: REASONING, step_number: n % 100 }, data: {}, seq, epoch: 'bench0000000' })
    return { userId, seq, frame }
  })
}

type Variant = [string, (group: PublishedFrame[]) => Promise<unknown>]
const variants: Variant[] = [
  ['gateway broker (RPUSH + PUBLISH)', async (group) => { await broker.publishEvents(group) }],
  ['bare PUBLISH', async (group) => await Promise.all(group.map((e) => command.publish(userChannel(PREFIX, e.userId), e.frame)))]
]
const results = new Map<string, number[]>(variants.map(([name]) => [name, []]))
let bytesPerFrame = 0
let frameBytes = 0
for (let round = 1; round <= ROUNDS; round++) {
  for (const [name, publish] of variants) {
    await command.flushdb()
    const batch = frames()
    frameBytes = batch[0]!.frame.length
    const memBefore = await memory()
    const before = await cpuUs()
    // A tick's group at a time, a few ticks in flight: the connection pipelines them as the gateway's does.
    for (let i = 0; i < batch.length; i += GROUP * 50) {
      await Promise.all(Array.from({ length: 50 }, (_, k) => publish(batch.slice(i + k * GROUP, i + (k + 1) * GROUP))))
    }
    await command.ping()
    const perEvent = (await cpuUs() - before) / EVENTS
    results.get(name)!.push(perEvent)
    if (name.startsWith('gateway')) bytesPerFrame = (await memory() - memBefore) / EVENTS
    console.log(`round ${round}: ${name.padEnd(34)} Redis ${perEvent.toFixed(2)} µs/event`)
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`\n${USERS} users, ${EVENTS} events of ${frameBytes} B per round, groups of ${GROUP}, ${ROUNDS} rounds; medians:`)
for (const [name, xs] of results) console.log(`  ${name.padEnd(34)} ${median(xs).toFixed(2)} µs/event (${xs.map((x) => x.toFixed(2)).join(', ')})`)
console.log(`  hot history: ${bytesPerFrame.toFixed(0)} B of Redis memory per frame kept`)
command.disconnect()
subscriber.disconnect()
await stopRedis(server)
