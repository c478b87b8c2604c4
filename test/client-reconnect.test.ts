// The client SDK across drops: reconnect and resume under random socket kills, close() that sticks, 1008 that stops.
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { StateChange } from '../src/client/index.js'
import { build, ctx, ingest, isolate, token, gone } from './helper.js'
import { countingWebSocket, next, sdk } from './client-sdk.js'
import { upTo } from './stream-client.js'

const thinking = (context: Record<string, string>, i: number): Record<string, unknown> =>
  ({ type: 'agent_thinking', context, reasoning: `step ${i}`, step_number: i })

t.test('random server-side drops under load, across two instances: every offset once, in order', async (t) => {
  const iso = isolate(t)
  const gws = [await build(t, iso), await build(t, iso)]
  // A load balancer in front of the two: each attempt goes to either instance.
  const WebSocket = countingWebSocket((url) => url.replace(gws[0]!.ws, gws[Math.floor(Math.random() * 2)]!.ws))
  const client = sdk(t, { url: gws[0]!.ws, token: await token('churner'), WebSocket, reconnect: { baseMs: 5, capMs: 50, maxAttempts: Infinity } })
  const seqs: number[] = []
  const reasons: string[] = []
  client.on('event', (e) => seqs.push(e.seq))
  client.on('agent_thinking', (e) => reasons.push(e.reasoning))
  await client.connect()

  const context = ctx('churner')
  const total = 400
  const done = next(client, 'agent_completed', () => true, 30_000)
  let kills = 0
  let i = 0
  await ingest(gws[1]!.http, { type: 'agent_started', context })
  for (let batch = 0; i < total - 2; batch++) {
    const events = []
    for (let k = 0; k < 7 && i < total - 2; k++) events.push(thinking(context, ++i))
    const res = await ingest(gws[batch % 2]!.http, { events })
    if (res.status !== 202) throw new Error(`ingest answered ${res.status}`)
    // About every third batch, cut the client wherever it is, whatever state it is in (even mid-handshake or mid-replay).
    if (Math.random() < 0.35) {
      for (const gw of gws) for (const socket of gw.app.websocketServer.clients) socket.terminate()
      kills++
    }
  }
  await ingest(gws[0]!.http, { type: 'agent_completed', context, status: 'completed', final_response: 'all steps done' })
  await done

  t.same(seqs, upTo(total), `offsets 1..${total}, nothing lost, nothing doubled (${kills} cuts, ${client.stats.reconnects} reconnects)`)
  t.same(reasons, upTo(total - 2).map((n) => `step ${n}`), 'the thinking handler saw each step once, in order')
  t.ok(client.stats.reconnects > 0, 'it did reconnect')
  t.equal(client.stats.resumeFailures, 0)
  t.ok(WebSocket.urls.slice(1).every((u) => u.includes('since=')), 'every reconnect resumed with since/epoch')
  t.equal(client.state, 'open')
})

t.test('a server restart (1012) sends the client to another instance, which resumes it', async (t) => {
  const iso = isolate(t)
  const one = await build(t, iso)
  const two = await build(t, iso)
  const WebSocket = countingWebSocket((url) => one.app.server.listening ? url : url.replace(one.ws, two.ws))
  const client = sdk(t, { url: one.ws, token: await token('restarted'), WebSocket })
  const seqs: number[] = []
  client.on('event', (e) => seqs.push(e.seq))
  await client.connect()
  const context = ctx('restarted')
  const first = next(client, 'event', (e) => e.seq === 2)
  await ingest(one.http, { events: [{ type: 'agent_started', context }, thinking(context, 1)] })
  await first
  const disconnect = next(client, 'disconnect')
  await one.app.close()
  t.match(await disconnect, { code: 1012, willReconnect: true })
  await ingest(two.http, thinking(context, 2))
  await next(client, 'event', (e) => e.seq === 3)
  t.same(seqs, [1, 2, 3])
})

t.test('close() stops reconnecting, whether open or waiting to retry', async (t) => {
  const gw = await build(t, isolate(t))
  const WebSocket = countingWebSocket()
  // No jitter: the retry is due at once (a 0 ms timer), so one later 0 ms timer shows whether it was really cancelled.
  const client = sdk(t, { url: gw.ws, token: await token('closer'), WebSocket, reconnect: { maxAttempts: Infinity }, random: () => 0 })
  await client.connect()
  const reconnecting = next(client, 'state', (s) => s.state === 'reconnecting')
  for (const socket of gw.app.websocketServer.clients) socket.terminate()
  await reconnecting
  t.equal(client.reconnectPending, true)
  await client.close()
  t.equal(client.state, 'closed')
  t.equal(client.reconnectPending, false, 'the scheduled retry is cancelled')
  const opened = WebSocket.urls.length
  // Timers of equal delay fire in the order they were set: this one runs after the retry would have (and after the
  // microtasks that open its socket), so nothing here waits on real time.
  await sleep(0)
  t.equal(WebSocket.urls.length, opened, 'no socket opened after close()')

  const open = sdk(t, { url: gw.ws, token: await token('closer'), WebSocket })
  await open.connect()
  const states: StateChange[] = []
  open.on('state', (s) => states.push(s))
  const before = WebSocket.urls.length
  await open.close()
  await gone(gw, 'closer')
  t.same(states.map((s) => [s.state, s.reason]), [['closed', 'closed_by_client']])
  t.equal(WebSocket.urls.length, before)
  await t.rejects(open.send('anyone?'), { code: 'closed' })
})

t.test('1008 does not loop: it stops, or retries once with a refreshed token', async (t) => {
  const gw = await build(t, isolate(t))
  const forged = await token('intruder', { secret: 'not-the-gateway-secret-0123456789abcdef' })

  const plain = countingWebSocket()
  const refused = sdk(t, { url: gw.ws, token: forged, WebSocket: plain })
  const failed = next(refused, 'auth_failed')
  await t.rejects(refused.connect(), /authentication failed \(1008/)
  t.match(await failed, { code: 1008 })
  t.equal(refused.state, 'closed')
  t.equal(plain.urls.length, 1, 'one attempt, no retry without a new token')

  let calls = 0
  const stillBad = countingWebSocket()
  const stubborn = sdk(t, { url: gw.ws, token: forged, WebSocket: stillBad, refreshToken: () => { calls++; return forged } })
  await t.rejects(stubborn.connect(), /1008/)
  t.equal(calls, 1, 'the refresh hook is asked once')
  t.equal(stillBad.urls.length, 2, 'one retry with what it gave, then stop')

  const noToken = sdk(t, { url: gw.ws, token: forged, refreshToken: async () => null })
  await t.rejects(noToken.connect(), /1008/)
  t.equal(noToken.state, 'closed')

  const fixed = countingWebSocket()
  const good = await token('intruder')
  const healed = sdk(t, { url: gw.ws, token: forged, WebSocket: fixed, refreshToken: async () => good })
  const welcome = await healed.connect()
  t.equal(welcome.data.user_id, 'intruder', 'the refreshed token connects')
  t.equal(fixed.urls.length, 2)
})

t.test('gives up after maxAttempts when nothing answers', async (t) => {
  const gw = await build(t, isolate(t))
  const url = gw.ws
  await gw.app.close()
  const WebSocket = countingWebSocket()
  const client = sdk(t, { url, token: await token('patient'), WebSocket, reconnect: { baseMs: 1, capMs: 5, maxAttempts: 3 } })
  const states: StateChange[] = []
  client.on('state', (s) => states.push(s))
  await t.rejects(client.connect(), /connection closed/)
  t.equal(WebSocket.urls.length, 4, 'the first attempt and 3 retries')
  t.same(states.map((s) => s.attempt ?? s.reason ?? s.state), ['connecting', 1, 2, 3, 'gave_up'])
})

t.test('ticket auth: a fresh single-use ticket per attempt, no subprotocol', async (t) => {
  const gw = await build(t, isolate(t))
  const jwt = await token('ticketed')
  const { fetchTicket } = await import('../src/client/index.js')
  const WebSocket = countingWebSocket()
  const tickets: string[] = []
  const client = sdk(t, { url: gw.ws, WebSocket, ticket: async (bearer) => { const id = await fetchTicket(gw.http, bearer!); tickets.push(id); return id }, token: jwt })
  const welcome = await client.connect()
  t.equal(welcome.data.user_id, 'ticketed')
  t.same(WebSocket.protocols[0], [], 'no token on the socket')
  for (const socket of gw.app.websocketServer.clients) socket.terminate()
  await next(client, 'state', (s) => s.state === 'open')
  t.equal(tickets.length, 2)
  t.not(tickets[0], tickets[1], 'a new ticket for the reconnect')
  t.ok(WebSocket.urls[1]!.includes(`ticket=${tickets[1]}`))
})
