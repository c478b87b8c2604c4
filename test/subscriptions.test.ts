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
