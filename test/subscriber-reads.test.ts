// The subscriber reads one chunk per turn of the event loop: a backlog of messages never becomes one long burst.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { oneReadPerTurn } from '../src/plugins/external/redis.js'
import { isolate, redis, REDIS_URL } from './helper.js'

const MESSAGES = 4000
const SIZE = 1000

async function subscriber (t: Test, bounded: boolean): Promise<Redis> {
  const sub = new Redis(REDIS_URL, { lazyConnect: true })
  if (bounded) oneReadPerTurn(sub)
  await sub.connect()
  t.teardown(() => sub.quit())
  return sub
}

/** Subscribes `channel`, lets `MESSAGES` pile up unread in the kernel, then counts the messages handled per turn. */
async function burst (t: Test, sub: Redis): Promise<{ received: number, mostInOneTurn: number }> {
  const { prefix } = isolate(t)
  const channel = `${prefix}burst`
  await sub.subscribe(channel)
  const pub = redis(t)

  let turn = 0
  const perTurn = new Map<number, number>()
  let received = 0
  const all = new Promise<void>((resolve) => {
    sub.on('messageBuffer', () => {
      perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1)
      if (++received === MESSAGES) resolve()
    })
  })
  // The bound's own resume of the SUBSCRIBE reply has run by the next turn; after it, nothing is read until resumed.
  await new Promise((resolve) => setImmediate(resolve))
  // Nothing is read, as while the loop runs a long task: the published messages pile up in the kernel and in Redis.
  sub.stream.pause()
  const payload = 'x'.repeat(SIZE)
  const pipeline = pub.pipeline()
  for (let i = 0; i < MESSAGES; i++) pipeline.publish(channel, payload)
  await pipeline.exec()
  let counting = true
  const tick = (): void => { turn++; if (counting) setImmediate(tick) }
  setImmediate(tick)
  sub.stream.resume()
  await all
  counting = false
  sub.removeAllListeners('messageBuffer')
  await sub.unsubscribe(channel)
  return { received, mostInOneTurn: Math.max(...perTurn.values()) }
}

t.test('a subscriber that fell behind takes its backlog one chunk per turn', async (t) => {
  const sub = await subscriber(t, true)
  const { received, mostInOneTurn } = await burst(t, sub)
  t.equal(received, MESSAGES, 'every message arrives')
  // One chunk is at most 64 KB: about 64 messages of 1 KB; two chunks may meet in one turn.
  t.ok(mostInOneTurn <= 200, `at most about two chunks in one turn (${mostInOneTurn})`)

  // The connection is cut: ioredis reconnects on a new socket, which is bound too.
  const ready = new Promise((resolve) => sub.once('ready', resolve))
  const killed = await redis(t).call('CLIENT', 'KILL', 'ADDR', `${sub.stream.localAddress}:${sub.stream.localPort}`)
  t.equal(killed, 1, 'the subscriber\'s connection was cut')
  await ready
  const again = await burst(t, sub)
  t.equal(again.received, MESSAGES, 'every message arrives after the reconnect')
  t.ok(again.mostInOneTurn <= 200, `the new socket is bounded as well (${again.mostInOneTurn})`)
})

t.test('without the bound, the same backlog comes as one burst (what the bound is for)', async (t) => {
  const { received, mostInOneTurn } = await burst(t, await subscriber(t, false))
  t.equal(received, MESSAGES, 'every message arrives')
  t.ok(mostInOneTurn > 400, `libuv reads many chunks in one turn (${mostInOneTurn})`)
})
