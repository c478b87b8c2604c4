// The client SDK in Node against the real gateway: typed handlers, token subprotocol, dedupe of replays, chat requests.
import t from 'tap'
import type { AgentEvent, StateChange } from '../src/client/index.js'
import { backoffDelay, GOLDEN_PATH_EVENTS, type RequestError } from '../src/client/index.js'
import { startWorker } from '../src/agent/worker.js'
import { base64url, socketUrl } from '../src/client/url.js'
import { build, ctx, goldenRun, ingest, isolate, REDIS_URL, token } from './helper.js'
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

t.test('chat through the SDK: send() starts a run, stop() cancels one, refusals reject, drops reject', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const worker = await startWorker({ redisUrl: REDIS_URL, prefix: iso.prefix, consumer: 'sdk-test-agent', stepMs: 150, concurrency: 4 })
  t.teardown(() => worker.stop())
  const client = sdk(t, { url: gw.ws, token: await token('chatter'), requestTimeoutMs: 5000 })
  const other = sdk(t, { url: gw.ws, token: await token('chatter-two') })
  await Promise.all([client.connect(), other.connect()])
  const runs = new Map<string, AgentEvent[]>()
  client.on('event', (e) => runs.set(e.run_id, [...(runs.get(e.run_id) ?? []), e]))

  const completed = next(client, 'agent_completed', () => true, 15_000)
  const run = await client.send('How do I cut my cloud costs?')
  t.match(run, { run_id: /^run_/, thread_id: /^thread_/, client_message_id: /^cm_/ }, 'the ack names the run and the thread')
  t.equal((await completed).run_id, run.run_id)
  t.same(runs.get(run.run_id)?.map((e) => e.type), GOLDEN_PATH_EVENTS, 'its five events, in order')
  t.match(runs.get(run.run_id)?.at(-1), { status: 'completed', final_response: /cloud costs/ })

  // Two at once: each promise gets its own ack, matched by client_message_id.
  const [a, b] = await Promise.all([client.send('first of two', { threadId: run.thread_id }), client.send('second of two')])
  t.equal(a.thread_id, run.thread_id, 'the thread given is kept')
  t.not(b.thread_id, run.thread_id, 'no thread: a new one')
  t.not(a.run_id, b.run_id)

  // Another user's thread is treated as unknown: a new thread, never theirs.
  t.not((await other.send('let me in', { threadId: run.thread_id })).thread_id, run.thread_id, 'another user\'s thread is never joined')
  await t.rejects(client.send('   '), { code: 'rejected', message: 'Please enter a message' })

  const started = next(client, 'agent_started', () => true, 10_000)
  const long = await client.send('a long task')
  await started
  const cancelled = next(client, 'agent_completed', (e) => e.run_id === long.run_id, 10_000)
  t.match(await client.stop(long.run_id), { payload: { status: 'stopped', run_id: long.run_id } })
  t.equal((await cancelled).status, 'cancelled', 'a stopped run ends cancelled')
  await t.rejects(other.stop(long.run_id), { code: 'rejected', message: 'Run not found' }, 'another user cannot stop it')

  // A request in flight when the socket drops is rejected, not resent: it may or may not have been processed.
  // The server's side is cut in the same tick, before it can read the frame.
  const cut = client.send('cut off').then(() => 'answered', (e: RequestError) => e.code)
  for (const socket of gw.app.websocketServer.clients) socket.terminate()
  t.equal(await cut, 'disconnected')
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
