// Subscriptions follow sockets: one SUBSCRIBE on a user's first local socket, UNSUBSCRIBE after the last one leaves.
import t from 'tap'
import { build, Client, isolate, redis, gone } from './helper.js'

t.test('the user channel is subscribed while sockets are open and dropped after the last closes', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const r = redis(t)
  // The control channel (revocations) and the watchdog's probe channel are subscribed once at boot and stay;
  // only user channels come and go.
  const channels = async (): Promise<string[]> => ((await r.pubsub('CHANNELS', `${iso.prefix}user:*`)) as string[]).sort()
  t.ok(((await r.pubsub('CHANNELS', `${iso.prefix}*`)) as string[]).includes(gw.app.fanout.controlChannel), 'the control channel is subscribed')
  const carolChannel = gw.app.fanout.channelOf('carol')

  t.same(await channels(), [], 'nothing subscribed before any socket')
  const first = await Client.as(gw.ws, 'carol')
  const second = await Client.as(gw.ws, 'carol')
  const dave = await Client.as(gw.ws, 'dave')
  t.same(await channels(), [carolChannel, gw.app.fanout.channelOf('dave')].sort(), 'one channel per user, no pattern subscription')
  t.equal(await r.pubsub('NUMPAT'), 0, 'no pattern subscriptions')
  t.same(await r.pubsub('NUMSUB', carolChannel), [carolChannel, 1], 'one subscription for two sockets')

  await first.close()
  t.same(await r.pubsub('NUMSUB', carolChannel), [carolChannel, 1], 'still subscribed while one socket remains')

  await second.close()
  await gone(gw, 'carol')
  t.same(await channels(), [gw.app.fanout.channelOf('dave')], 'carol\'s channel is gone, dave\'s stays')

  await dave.close()
  await gone(gw, 'dave')
  t.same(await channels(), [], 'nothing left subscribed')
  t.equal(gw.app.registry.connectionCount, 0)
  t.equal(gw.app.registry.userCount, 0)
})

t.test('a socket that reconnects while the unsubscribe is in flight is subscribed again', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const r = redis(t)
  const channel = gw.app.fanout.channelOf('erin')
  for (let i = 0; i < 5; i++) {
    const c = await Client.as(gw.ws, 'erin')
    const closing = c.close()
    const next = await Client.as(gw.ws, 'erin')
    await closing
    t.same(await r.pubsub('NUMSUB', channel), [channel, 1], `round ${i}: subscribed while a socket is open`)
    await next.close()
  }
  await gone(gw, 'erin')
  t.same(await r.pubsub('NUMSUB', channel), [channel, 0], 'unsubscribed at the end')
})

t.test('the subscribes and unsubscribes of one turn go as one command each', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const r = redis(t)
  const subscriber = gw.app.redis!.subscriber
  const calls: Array<[string, number]> = []
  for (const name of ['subscribe', 'unsubscribe'] as const) {
    const original = subscriber[name].bind(subscriber) as (...channels: string[]) => Promise<unknown>
    Object.assign(subscriber, { [name]: async (...channels: string[]) => { calls.push([name, channels.length]); return await original(...channels) } })
    t.teardown(() => { Object.assign(subscriber, { [name]: original }) })
  }
  const N = 30
  const clients = await Promise.all(Array.from({ length: N }, async (_, i) => await Client.as(gw.ws, `turn-${i}`)))
  const mine = new Set(Array.from({ length: N }, (_, i) => gw.app.fanout.channelOf(`turn-${i}`)))
  const channels = async (): Promise<string[]> => ((await r.pubsub('CHANNELS', `${iso.prefix}*`)) as string[]).filter((c) => mine.has(c))
  t.equal((await channels()).length, N, 'every user subscribed')
  const subscribes = calls.filter(([name]) => name === 'subscribe')
  t.equal(subscribes.reduce((n, [, count]) => n + count, 0), N, 'each channel once')
  // Connects come spread over turns (so do most of a storm's subscribes: one per user): no bound asserted here.
  t.ok(subscribes.length <= N, `${N} users in ${subscribes.length} SUBSCRIBE commands`)

  // Closed together, as a deploy's drop does: the server sees them in one turn.
  for (const c of clients) c.socket.terminate()
  await Promise.all(Array.from({ length: N }, async (_, i) => { await gone(gw, `turn-${i}`) }))
  t.same(await channels(), [], 'every channel dropped')
  const unsubscribes = calls.filter(([name]) => name === 'unsubscribe')
  t.equal(unsubscribes.reduce((n, [, count]) => n + count, 0), N)
  t.ok(unsubscribes.length <= 3, `${N} sockets closed at once: ${unsubscribes.length} UNSUBSCRIBE command(s)`)
})
