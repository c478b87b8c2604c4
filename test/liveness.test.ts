// Liveness and limits: missed pongs, idle heartbeats, planned rotation, message rate, sockets and upgrades per instance.
import t from 'tap'
import WebSocket from 'ws'
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
  await step()
  t.match(await c.next('heartbeat'), { data: { connection_id: c.frames[0]!.data?.connection_id } }, 'a heartbeat after 5 s of silence')
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
