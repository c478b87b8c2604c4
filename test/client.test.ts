// The client SDK in Node against the real gateway: typed handlers, auth forms, dedupe of replays, request matching.
import t from 'tap'
import type { AgentEvent, StateChange } from '../src/client/index.js'
import { backoffDelay, RequestError } from '../src/client/index.js'
import { base64url, socketUrl } from '../src/client/url.js'
import { build, ctx, goldenRun, ingest, isolate, token } from './helper.js'
import { countingWebSocket, next, sdk } from './client-sdk.js'

t.test('typed handlers get their own frames, in order, and another user gets none of them', async (t) => {
  const gw = await build(t, isolate(t))
  const WebSocket = countingWebSocket()
  const states: StateChange[] = []
  const alice = sdk(t, { url: gw.http, token: await token('alice-typed'), WebSocket })
  alice.on('state', (s) => states.push(s))
  const bob = sdk(t, { url: gw.ws + '/ws', token: await token('bob-typed') })
  const bobEvents: AgentEvent[] = []
  bob.on('event', (e) => bobEvents.push(e))

  const welcome = await alice.connect()
  await bob.connect()
  t.equal(welcome.data.user_id, 'alice-typed', 'the token rode in the subprotocol and was accepted')
  t.match(WebSocket.protocols[0], [/^jwt\.[A-Za-z0-9_-]+$/], 'offered as jwt.<base64url>, no padding')
  t.equal(WebSocket.urls[0], `${gw.ws}/ws`, 'an http origin becomes its /ws socket')
  t.same(states.map((s) => s.state), ['connecting', 'open'])
  t.same(alice.position, { seq: 0, epoch: welcome.data.epoch }, 'a first socket starts at the stream position')

  const seen: string[] = []
  const all: AgentEvent[] = []
  alice.on('agent_started', (e) => seen.push(`started ${e.thread_id}`))
  alice.on('agent_thinking', (e) => seen.push(`thinking ${e.reasoning}`))
  alice.on('tool_executing', (e) => seen.push(`executing ${e.tool_name} ${JSON.stringify(e.parameters)}`))
  alice.on('tool_completed', (e) => seen.push(`completed ${e.tool_name} ${JSON.stringify(e.results)} ${e.duration}`))
  alice.on('agent_completed', (e) => seen.push(`done ${e.status}: ${e.final_response}`))
  alice.on('agent_error', () => seen.push('error'))
  alice.on('event', (e) => all.push(e))
  const done = next(alice, 'agent_completed')

  const context = ctx('alice-typed')
  await ingest(gw.http, { events: goldenRun(context) })
  const completed = await done
  t.same(seen, [
    `started ${context.thread_id}`,
    'thinking Looking at the cost data',
    'executing query_costs {"month":"2026-10"}',
    'completed query_costs {"rows":3} 1500',
    'done completed: Here are 3 optimizations'
  ])
  t.same(all.map((e) => e.seq), [1, 2, 3, 4, 5])
  t.match(completed, { run_id: context.run_id, thread_id: context.thread_id, user_id: 'alice-typed', epoch: welcome.data.epoch, data: { status: 'completed' } })
  t.same(alice.position, { seq: 5, epoch: welcome.data.epoch })

  // Bob's own event reaches him; by then alice's would have too, had they been routed to him.
  const bobsOwn = next(bob, 'agent_started')
  await ingest(gw.http, goldenRun(ctx('bob-typed'))[0])
  await bobsOwn
  t.same(bobEvents.map((e) => e.user_id), ['bob-typed'], 'bob sees only his own event')
  await Promise.all([alice.close(), bob.close()])
  t.equal(alice.state, 'closed')
})

t.test('a replayed overlap is dropped: each offset reaches the handlers once', async (t) => {
  const gw = await build(t, isolate(t))
  const client = sdk(t, { url: gw.ws, token: await token('deduper') })
  const { data: { epoch } } = await client.connect()
  const context = ctx('deduper')
  const seqs: number[] = []
  const dropped: number[] = []
  client.on('event', (e) => seqs.push(e.seq))
  client.on('duplicate', (e) => dropped.push(e.seq))
  const third = next(client, 'event', (e) => e.seq === 3)
  await ingest(gw.http, { events: goldenRun(context).slice(0, 3) })
  await third
  // Ask the server to replay from offset 1 on the open socket: 2 and 3 come again.
  const twoDuplicates = next(client, 'duplicate', (e) => e.seq === 3)
  client.sendFrame({ type: 'resume', since: 1, epoch })
  await twoDuplicates
  const fourth = next(client, 'event', (e) => e.seq === 4)
  await ingest(gw.http, goldenRun(context)[3])
  await fourth
  t.same(seqs, [1, 2, 3, 4])
  t.same(dropped, [2, 3])
  t.equal(client.stats.duplicates, 2)
})

t.test('resumeFrom: a client that kept its position gets what it missed, and resume_failed moves it on', async (t) => {
  const gw = await build(t, isolate(t))
  const context = ctx('returning')
  await ingest(gw.http, { events: goldenRun(context).slice(0, 3) })
  const first = sdk(t, { url: gw.ws, token: await token('returning') })
  const { data: { epoch } } = await first.connect()
  await first.close()

  const back = sdk(t, { url: gw.ws, token: await token('returning'), resumeFrom: { seq: 1, epoch } })
  const seqs: number[] = []
  back.on('event', (e) => seqs.push(e.seq))
  const caughtUp = next(back, 'event', (e) => e.seq === 3)
  await back.connect()
  await caughtUp
  t.same(seqs, [2, 3], 'the missed offsets, from the durable log')

  const lost = sdk(t, { url: gw.ws, token: await token('returning'), resumeFrom: { seq: 1, epoch: 'an-old-epoch' } })
  const failed = next(lost, 'resume_failed')
  await lost.connect()
  t.match(await failed, { reason: 'epoch_changed', seq: 3, epoch })
  t.same(lost.position, { seq: 3, epoch }, 'it continues live from the server position')
  t.equal(lost.stats.resumeFailures, 1)
})

t.test('requests: send() matches its ack by client_message_id; errors and drops reject', async (t) => {
  const gw = await build(t, isolate(t))
  const client = sdk(t, { url: gw.ws, token: await token('sender'), requestTimeoutMs: 3000 })
  const sent: Array<Record<string, unknown>> = []
  await client.connect()
  // What goes out: the contract's user_message with a client_message_id to match the ack with.
  const raw = client as unknown as { socket: { send: (s: string) => void } }
  const original = raw.socket.send.bind(raw.socket)
  raw.socket.send = (s: string) => { sent.push(JSON.parse(s)); original(s) }
  const attempt = client.send('What did we spend on GPUs?', { threadId: 'thread_sender_42' })
  const outcome = await attempt.then((r) => r, (e: unknown) => e)
  t.match(sent[0], { type: 'user_message', client_message_id: /^cm_/, payload: { message: 'What did we spend on GPUs?', thread_id: 'thread_sender_42' } })
  if (outcome instanceof RequestError) {
    // A gateway without the chat side acknowledges the frame but starts no run: the SDK says so.
    t.equal(outcome.code, 'no_run')
  } else {
    t.match(outcome, { run_id: String, thread_id: String, client_message_id: sent[0]!.client_message_id })
  }

  // A request in flight when the socket drops is rejected, not resent: it may or may not have been processed.
  // The server's side is cut in the same tick, before it can read the frame.
  const stopped = client.stop('run_cut_off_1234567890').then(() => 'answered', (e: RequestError) => e.code)
  for (const socket of gw.app.websocketServer.clients) socket.terminate()
  t.equal(await stopped, 'disconnected')
  await client.close()
  await t.rejects(client.send('after close'), { code: 'closed' })
})

t.test('backoff is full jitter under a cap; URLs and base64url are what the server reads', async (t) => {
  t.equal(backoffDelay(0, { baseMs: 100, capMs: 1000 }, () => 0.999), 99, 'attempt 0: up to base')
  t.equal(backoffDelay(3, { baseMs: 100, capMs: 1000 }, () => 0.5), 400, 'attempt 3: up to base·2^3')
  t.equal(backoffDelay(40, { baseMs: 100, capMs: 1000 }, () => 0.999), 999, 'never above the cap')
  t.equal(backoffDelay(5, {}, () => 0), 0, 'zero is possible: full jitter')
  t.equal(socketUrl('https://gw.example').href, 'wss://gw.example/ws')
  t.equal(socketUrl('ws://gw.example/api/v1/websocket').href, 'ws://gw.example/api/v1/websocket')
  t.throws(() => socketUrl('ftp://gw.example'))
  t.equal(base64url('a.b?c>>'), Buffer.from('a.b?c>>').toString('base64url'))
})
