// Backpressure: 100 clients that never read while 10,000 events flow are closed as slow consumers; every other
// socket gets every event, and memory stays bounded. A replay larger than the buffer is paced instead.
import type { Socket } from 'node:net'
import v8 from 'node:v8'
import vm from 'node:vm'
import t from 'tap'
import { build, Client, ctx, ingest, isolate, token, gone } from './helper.js'

const SLOW = 100
const NORMAL = 10
const PER_SLOW = 95 // 100 × 95 + 10 × 50 = 10,000 events
const PER_NORMAL = 50
// Loopback send buffers autotune to a few MB per socket: each stalled reader is sent ~6 MB so that what the
// kernel cannot hold shows up in the gateway's own queue, which is what is bounded.
const BIG = 'x'.repeat(64_000)

// A full collection on demand, so that what is measured is what stays, not garbage waiting for the collector.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
const retained = (): number => { gc(); const m = process.memoryUsage(); return m.heapUsed + m.external + m.arrayBuffers }

t.test('stalled readers are cut off; the rest get everything; RSS stays bounded', async (t) => {
  // Events go straight into the fanout path (as ingest does once they are stored): what is tested is the
  // delivery side, and 400 MB through the durable log would only slow the test down.
  // A short hot history: it would otherwise (rightly) keep the last 2,000 frames of every user.
  // The pressure guard is off: on a loaded machine it could refuse the 110 upgrades, and it is not what is tested here.
  const gw = await build(t, null, { WS_MAX_BUFFERED_BYTES: '65536', HISTORY_SIZE: '5', PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0' })
  const slowUsers = Array.from({ length: SLOW }, (_, i) => `slow-${i}`)
  const normalUsers = Array.from({ length: NORMAL }, (_, i) => `fast-${i}`)
  const slow = await Promise.all(slowUsers.map((u) => Client.as(gw.ws, u)))
  const normal = await Promise.all(normalUsers.map((u) => Client.as(gw.ws, u)))
  // Stop reading: the TCP receive window closes, and the server's send queue for these sockets grows.
  for (const c of slow) (c.socket as unknown as { _socket: Socket })._socket.pause()

  const epochs = new Map<string, string>()
  for (const u of [...slowUsers, ...normalUsers]) epochs.set(u, (await gw.app.store.position(u)).epoch)
  const frame = (user: string, seq: number, text: string): string =>
    `{"seq":${seq},"epoch":"${epochs.get(user)!}","type":"agent_thinking","user_id":"${user}","reasoning":"${text}"}`
  const heldBefore = retained()
  const rssBefore = process.memoryUsage().rss
  let peakRss = rssBefore
  for (let round = 1; round <= PER_SLOW; round++) {
    for (const u of slowUsers) await gw.app.broker.publishEvents([{ userId: u, seq: round, frame: frame(u, round, BIG) }])
    if (round <= PER_NORMAL) for (const u of normalUsers) await gw.app.broker.publishEvents([{ userId: u, seq: round, frame: frame(u, round, `event ${round}`) }])
    // Let the deliveries of this round happen, as they would with a network broker in between.
    await new Promise((resolve) => setImmediate(resolve))
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }
  await Promise.all(normal.map((c) => c.count(['agent_thinking'], PER_NORMAL, 30000)))
  const exact = normal.filter((c) => JSON.stringify(c.frames.filter((f) => f.type === 'agent_thinking').map((f) => f.seq)) ===
    JSON.stringify(Array.from({ length: PER_NORMAL }, (_, i) => i + 1))).length
  t.equal(exact, NORMAL, `every normal socket got all of its ${PER_NORMAL} events, in order`)

  const closes = Number(/aeg_socket_closes_total\{reason="slow_consumer"\} (\d+)/.exec(await (await fetch(`${gw.http}/metrics`)).text())?.[1] ?? 0)
  t.equal(closes, SLOW, 'all 100 stalled sockets closed as slow consumers')
  const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`
  const sent = SLOW * PER_SLOW * BIG.length
  // The stalled sockets could not take their close frame: the server drops their connections a second later.
  await Promise.all(slowUsers.map((u) => gone(gw, u)))
  t.equal(gw.app.registry.connectionCount, NORMAL, 'only the normal sockets remain')
  const heldAfter = retained()
  // What may stay: the hot history (5 frames of 64 KB for 100 users, 31 MiB), what the paused test clients hold,
  // and the heap's slack; far below what was sent, and independent of it.
  t.ok(heldAfter - heldBefore < 96 * 1048576, `memory held after the run: ${mb(heldAfter - heldBefore)} more than before (31 MiB of it the bounded hot history), while ${mb(sent)} went to stalled readers`)
  t.comment(`RSS before ${mb(rssBefore)}, peak ${mb(peakRss)}, after ${mb(process.memoryUsage().rss)} (gateway and test clients in one process; the peak is mostly the test's own frames awaiting collection)`)
  await Promise.all(normal.map((c) => c.close()))
})

t.test('a resume that replays far more than the socket\'s buffer limit is paced, not closed: every event once', async (t) => {
  // 64 KiB of buffer allowed per socket; the replay is 300 events of 32 KiB, about 9.4 MiB, taken in one history
  // read and written in one piece before pacing (the in-process client cannot read while the server writes).
  // The pressure guard is off here too: a loaded machine must not refuse the upgrade.
  const gw = await build(t, isolate(t), { WS_MAX_BUFFERED_BYTES: '65536', PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0' })
  const first = await Client.as(gw.ws, 'replayer')
  const epoch = String(first.frames[0]!.data?.epoch)
  await first.close()
  const context = ctx('replayer')
  const text = 'y'.repeat(32 * 1024)
  for (let i = 0; i < 300; i += 50) {
    const res = await ingest(gw.http, { events: Array.from({ length: 50 }, (_, j) => ({ type: 'agent_thinking', context, reasoning: text, step_number: i + j + 1 })) })
    t.equal(res.status, 202, `batch ${i / 50 + 1} stored`)
  }

  const c = await Client.open(`${gw.ws}/ws?since=0&epoch=${encodeURIComponent(epoch)}`, { headers: { authorization: `Bearer ${await token('replayer')}` } })
  let closedWith: number | undefined
  c.socket.on('close', (code) => { closedWith = code })
  const cut = c.closed.then(({ code, reason }) => { throw new Error(`closed with ${code} (${reason}) after ${c.frames.length} frames`) })
  await Promise.race([c.count(['agent_thinking'], 300, 60000), cut])
  await ingest(gw.http, { type: 'agent_thinking', context, reasoning: 'live after the replay', step_number: 301 })
  const live = await c.next((f) => f.seq === 301, 10000)
  t.equal(live.reasoning, 'live after the replay', 'then the live stream')
  const seqs = c.frames.filter((f) => f.type === 'agent_thinking').map((f) => f.seq)
  t.same(seqs, Array.from({ length: 301 }, (_, i) => i + 1), 'offsets 1..301, each exactly once, in order')
  t.equal(closedWith, undefined, 'never closed (no 1013)')
  const metrics = await (await fetch(`${gw.http}/metrics`)).text()
  t.notMatch(metrics, /aeg_socket_closes_total\{reason="(slow_consumer|catch_up_backlog)"\}/, 'no slow-consumer or backlog close counted')
  cut.catch(() => {})
  await c.close()
})
