// Silent pub/sub loss: a subscriber that stays connected but hears nothing is noticed by the watchdog, readiness
// fails, the subscriber is reconnected, and every connected socket gets every acknowledged event.
import t from 'tap'
import { build, ctx, ingest, isolate, pollUntil, REDIS_URL } from './helper.js'
import { proxyFor } from './fixtures/tcp-proxy.js'
import { StreamClient, upTo } from './stream-client.js'

t.test('a deaf subscriber is detected and replaced, and nothing is lost', async (t) => {
  const { proxy, url: viaProxy } = await proxyFor(t, REDIS_URL, 6379)
  const iso = isolate(t)
  // Instance A reaches Redis through the proxy and holds the socket; B ingests, straight to Redis.
  const a = await build(t, iso, { REDIS_URL: viaProxy, WATCHDOG_INTERVAL_MS: '100' })
  const b = await build(t, iso, { WATCHDOG_INTERVAL_MS: '0' })
  const client = new StreamClient('deaf-user')
  await client.connect(a.ws)
  const context = ctx('deaf-user')
  const send = async (n: number): Promise<void> => {
    const res = await ingest(b.http, { events: Array.from({ length: n }, (_, i) => ({ type: 'agent_thinking', context, reasoning: `r${i}` })) })
    t.equal(res.status, 202)
  }
  await send(5)
  await client.until(5)

  t.equal(proxy.deafen('aeg-subscriber'), 1, 'the subscriber connection goes deaf (still open)')
  await send(5) // published, but A hears nothing
  const ready = async (): Promise<number> => (await fetch(`${a.http}/health/ready`)).status
  // The watchdog needs three missed probes (300 ms): ask until readiness says so, within a bound.
  t.ok(await pollUntil(async () => await ready() === 503), '/health/ready fails while probes do not come back')

  // The watchdog reconnects the subscriber (a fresh connection hears again) and the registry catches up.
  await client.until(10, 10000)
  await send(3)
  await client.until(13)
  t.same(client.seqs(), upTo(13), 'every acknowledged event, once, in order')
  t.ok(await pollUntil(async () => await ready() === 200), 'ready again once probes come back')
  await client.socket?.close()
})
