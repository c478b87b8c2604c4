// Liveness and limits: missed pongs, idle heartbeats, rotation, checks that yield, slow registrations, rate and socket limits.
import { EventEmitter } from 'node:events'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import t from 'tap'
import WebSocket from 'ws'
import type { Connection, Socket } from '../src/plugins/app/fanout/registry.js'
import { tcpOf } from '../src/plugins/external/websocket.js'
import { build, Client, ctx, ingest, isolate, token, type Running } from './helper.js'

/** The liveness clock, driven by the test: each step is one ping interval (and a little) further on. */
function stepper (gw: Running): () => Promise<void> {
  let at = Date.now()
  return async () => {
    at += gw.config.ws.heartbeatIntervalS * 1000 + 200
    await gw.app.liveness.advance(at)
  }
}

t.test('a socket that misses its pong is terminated; one that answers stays', async (t) => {
  const gw = await build(t, isolate(t))
  const step = stepper(gw)
  const alive = await Client.as(gw.ws, 'pinger')
  // A client whose network died: it never answers protocol pings.
  const dead = new WebSocket(`${gw.ws}/ws`, { headers: { authorization: `Bearer ${await token('ghost')}` }, autoPong: false })
  const deadClosed = new Promise<number>((resolve) => dead.on('close', (code) => resolve(code)))
  await new Promise((resolve) => dead.on('message', resolve))
  await step() // pings both
  // An app-level round trip: the protocol pong, sent before it, has arrived by the time the answer comes back.
  alive.send({ type: 'ping' })
  await alive.next('pong')
  await step() // the ghost did not answer
  t.equal(await deadClosed, 1006, 'terminated without a close frame')
  t.equal(alive.socket.readyState, WebSocket.OPEN, 'the live socket stays')
  await alive.close()
})

t.test('idle heartbeats and planned rotation', async (t) => {
  // Checks 30 s apart: the first finds the socket idle, the second finds it past its age (54 to 60 s).
  const gw = await build(t, isolate(t), { HEARTBEAT_INTERVAL_S: '30', WS_IDLE_HEARTBEAT_S: '5', WS_MAX_AGE_S: '60', RECONNECT_JITTER_S: '3' })
  const step = stepper(gw)
  const c = await Client.as(gw.ws, 'rotor')
  await ingest(gw.http, { type: 'agent_thinking', context: ctx('rotor'), reasoning: 'one' })
  await c.next('agent_thinking')
  // The server's writes on this socket's TCP connection, counted over the check: the ping and the heartbeat due
  // with it leave in one.
  const tcp = tcpOf([...gw.app.registry.list('rotor')][0]!.socket) as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>
  let writes = 0
  for (const name of ['_write', '_writev'] as const) {
    const original = tcp[name]
    tcp[name] = function (this: unknown, ...args: unknown[]) { writes++; original.apply(this, args) }
  }
  const pinged = new Promise((resolve) => c.socket.once('ping', resolve))
  await step()
  t.match(await c.next('heartbeat'), { data: { connection_id: c.frames[0]!.data?.connection_id } }, 'a heartbeat after 5 s of silence')
  await pinged
  t.equal(writes, 1, 'the ping and the heartbeat in one write')
  for (const name of ['_write', '_writev'] as const) delete tcp[name]
  c.send({ type: 'ping' })
  await c.next('pong')
  await step()
  const reconnect = await c.next('reconnect')
  t.match(reconnect, { message: /rotation/, resume: { since: 1, epoch: c.frames[0]!.data?.epoch } })
  t.ok((reconnect.reconnect_delay_ms as number) >= 0 && (reconnect.reconnect_delay_ms as number) < 3000, 'a jittered delay')
  t.match(await c.closed, { code: 1001, reason: /rotation/ })
})

t.test('a client over its frame rate has the excess dropped with RATE_LIMITED, and stays connected', async (t) => {
  const gw = await build(t, isolate(t), { WS_MESSAGE_RATE: '5', WS_MESSAGE_BURST: '5' })
  const c = await Client.as(gw.ws, 'chatty')
  for (let i = 0; i < 30; i++) c.send({ type: 'ping' })
  t.match(await c.next('error_message'), { error_code: 'RATE_LIMITED' })
  t.ok(c.frames.filter((f) => f.type === 'pong').length <= 6, 'at most the burst was answered')
  t.equal(c.socket.readyState, WebSocket.OPEN)
  await c.close()
})

t.test('an instance at its socket limit, or over its upgrade rate, answers 503 with Retry-After', async (t) => {
  const full = await build(t, isolate(t), { MAX_SOCKETS: '2' })
  const held = [await Client.as(full.ws, 'cap-a'), await Client.as(full.ws, 'cap-b')]
  const refused = await Client.open(`${full.ws}/ws`, { headers: { authorization: `Bearer ${await token('cap-c')}` } }).catch((e: Error) => e)
  t.match(refused, { message: /Unexpected server response: 503/ })
  const res = await fetch(`${full.http}/ws`)
  t.equal(res.status, 503)
  t.equal(res.headers.get('retry-after'), '2')
  t.match(await res.json(), { code: 'OVER_CAPACITY', message: /maximum of 2 sockets/ })
  await Promise.all(held.map((c) => c.close()))

  const slow = await build(t, isolate(t), { UPGRADE_RATE: '3' })
  const jwt = await token('storm')
  const attempts = await Promise.all(Array.from({ length: 10 }, () => Client.open(`${slow.ws}/ws`, { headers: { authorization: `Bearer ${jwt}` } }).catch((e: Error) => e)))
  const rejected = attempts.filter((a) => a instanceof Error)
  t.ok(rejected.length >= 5, `${rejected.length} of 10 simultaneous upgrades refused at 3 per second`)
  t.ok(rejected.every((e) => /503/.test(String(e))), 'with 503')
  await Promise.all(attempts.filter((a): a is Client => !(a instanceof Error)).map((c) => c.close()))
})

/**
 * A registered connection whose socket is a light fake: it costs what pinging a real socket costs at scale
 * (half a millisecond each stands for the write and its syscall with thousands of peers), and counts its pings.
 */
class FakeSocket extends EventEmitter {
  readyState = 1
  bufferedAmount = 0
  pings = 0
  ping (): void {
    const end = performance.now() + 0.5
    while (performance.now() < end);
    this.pings++
  }

  send (): void {}
  close (): void { this.readyState = 3 }
  terminate (): void { this.readyState = 3 }
}

t.test('checking 2,000 sockets yields the event loop: frames published meanwhile arrive within a bound', async (t) => {
  const gw = await build(t, isolate(t))
  const { registry, liveness } = gw.app
  const watcher = await Client.as(gw.ws, 'watcher')
  const fakes: Connection[] = Array.from({ length: 2000 }, (_, i) => ({
    id: `fake-${i}`,
    userId: `crowd-${i % 20}`,
    socket: new FakeSocket() as unknown as Socket,
    openedAt: Date.now(),
    lastSeenAt: Date.now(),
    log: gw.app.log,
    identity: { userId: `crowd-${i % 20}` }
  }))
  for (let i = 0; i < fakes.length; i += 200) {
    await Promise.all(fakes.slice(i, i + 200).map((conn) => registry.register(conn, () => ({ type: 'connection_established' }))))
  }
  t.teardown(() => { for (const conn of fakes) { liveness.unwatch(conn); registry.unregister(conn) } })
  for (const conn of fakes) liveness.watch(conn)
  const pings = (): number => fakes.reduce((n, c) => n + (c.socket as unknown as FakeSocket).pings, 0)

  // Every fake is due at once: 2,000 × 0.5 ms, a second of work if it ran in one piece.
  const loop = monitorEventLoopDelay({ resolution: 5 })
  loop.enable()
  const started = performance.now()
  let finished = 0
  const sweep = liveness.advance(Date.now() + gw.config.ws.heartbeatIntervalS * 1000 + 200).then(() => { finished = performance.now() })
  const context = ctx('watcher')
  const latencies: number[] = []
  for (let i = 1; i <= 3; i++) {
    const sent = performance.now()
    await ingest(gw.http, { type: 'agent_thinking', context, reasoning: `during the sweep ${i}` })
    await watcher.next((f) => f.seq === i)
    latencies.push(performance.now() - sent)
    t.equal(finished, 0, `frame ${i} arrived while the sweep was still running (${pings()} of 2000 pinged)`)
  }
  await sweep
  loop.disable()
  const total = finished - started
  const stalled = loop.max / 1e6
  t.equal(pings(), 2000, 'every socket was pinged')
  t.ok(total > 1000, `the sweep took ${total.toFixed(0)} ms`)
  // In one piece, the loop would have been held for the whole second of work; the bound leaves room for a busy
  // machine (a quiet loop here already sees stalls near 100 ms when the machine is loaded).
  t.ok(stalled < 400, `the event loop was never held more than ${stalled.toFixed(0)} ms at a time (bound 400 ms, a sweep in one piece: over 1,000 ms)`)
  t.ok(Math.max(...latencies) < total / 2, `frames published during it arrived in ${latencies.map((l) => l.toFixed(0)).join(', ')} ms, each well within the sweep's ${total.toFixed(0)} ms`)
  await watcher.close()
})

t.test('a socket whose registration is slow is pinged, not killed, and goes on once its position is read', async (t) => {
  const gw = await build(t, isolate(t))
  const step = stepper(gw)
  // The position read of this one user waits for the test.
  const { store } = gw.app
  const position = store.position.bind(store)
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  let reached!: () => void
  const asked = new Promise<void>((resolve) => { reached = resolve })
  store.position = async (userId) => {
    if (userId === 'slowpoke') { reached(); await gate }
    return await position(userId)
  }
  t.teardown(() => { store.position = position })

  const client = await Client.open(`${gw.ws}/ws`, { headers: { authorization: `Bearer ${await token('slowpoke')}` } })
  await asked
  const pinged = new Promise((resolve) => client.socket.once('ping', resolve))
  await step()
  await pinged
  // ws answered the ping at once; our own ping's answer comes after the server has taken that pong.
  await new Promise((resolve) => { client.socket.once('pong', resolve); client.socket.ping() })
  await step()
  t.equal(client.socket.readyState, WebSocket.OPEN, 'two checks during its registration, and still open')
  t.equal(client.frames.length, 0, 'nothing written before the welcome (no heartbeat, no rotation)')

  release()
  const welcome = await client.next('connection_established')
  t.equal(client.frames[0], welcome, 'the welcome is its first frame')
  await ingest(gw.http, { type: 'agent_thinking', context: ctx('slowpoke'), reasoning: 'after a slow start' })
  t.match(await client.next('agent_thinking'), { seq: 1 })
  await client.close()
})
