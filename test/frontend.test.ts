// The platform's frontend, as it reads and sends frames: payloads, stop without a run id, adopted threads, run timing.
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { startWorker } from '../src/agent/worker.js'
import { build, Client, ctx, type Frame, goldenRun, ingest, isolate, REDIS_URL, token } from './helper.js'

const STEP_MS = 250

/** Sends a message and returns its ack (matched by client_message_id). */
async function say (c: Client, text: string, threadId?: string): Promise<Frame> {
  const id = `cm_${randomUUID()}`
  c.send({ type: 'user_message', payload: { text, thread_id: threadId ?? null }, client_message_id: id })
  return await c.next((f) => f.client_message_id === id)
}

/** The next frame of `type` that arrives after this call (not one already recorded). */
async function answer (c: Client, frame: unknown, match: (f: Frame) => boolean): Promise<Frame> {
  const before = c.frames.length
  c.send(frame)
  return await c.next((f) => c.frames.indexOf(f) >= before && match(f), 10_000)
}

const ofRun = (type: string, runId: unknown) => (f: Frame): boolean => f.type === type && f.run_id === runId

/** The frontend's own normalization (contract section 3.1): it copies data into payload only for these types. */
const COPIED = new Set(['agent_started', 'tool_executing', 'agent_thinking', 'partial_result', 'agent_completed', 'start_agent', 'agent_response', 'agent_progress', 'agent_error'])
function asFrontend (frame: Frame): Record<string, unknown> {
  const payload = frame.payload ?? (COPIED.has(frame.type) ? frame.data : undefined) ?? {}
  return payload as Record<string, unknown>
}

/** A frame without its time, to compare two answers that must be the same. */
function timeless (frame: Frame): Record<string, unknown> {
  const { timestamp: _, ...rest } = frame
  return rest
}

async function stopsAsTheFrontendDoes (t: Test, gw: { ws: string }, user: string): Promise<void> {
  const c = await Client.as(gw.ws, user)
  // The three shapes the frontend stops with, none naming a run, and the bare frame.
  for (const stop of [
    { type: 'stop_agent', payload: { agent_id: '' } },
    { type: 'stop_agent', payload: {} },
    { type: 'stop_processing', data: {} },
    { type: 'stop_agent' }
  ]) {
    const ack = await say(c, `a long task for ${JSON.stringify(stop)}`)
    await c.next(ofRun('agent_started', ack.run_id), 10_000)
    const stopped = await answer(c, stop, ofRun('agent_stopped', ack.run_id))
    t.match(stopped, { run_id: ack.run_id, payload: { status: 'stopped', run_id: ack.run_id } }, `${JSON.stringify(stop)}: agent_stopped names the run`)
    const end = await c.next(ofRun('agent_completed', ack.run_id), 10_000)
    t.equal(end.status, 'cancelled', `${JSON.stringify(stop)}: the run ends cancelled`)
    t.equal(c.frames.filter((f) => f.run_id === ack.run_id && f.type === 'tool_completed').length, 0, 'the run did not go on')
  }
  const idle = await answer(c, { type: 'stop_agent', payload: { agent_id: '' } }, (f) => f.type === 'agent_stopped')
  t.match(idle, { run_id: null, payload: { status: 'not_running' } }, 'nothing running: agent_stopped not_running')
  await c.close()
}

t.test('against Redis and PostgreSQL with the reference agent worker', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const worker = await startWorker({ redisUrl: REDIS_URL, prefix: iso.prefix, consumer: 'frontend-agent', stepMs: STEP_MS, concurrency: 10 })
  t.teardown(() => worker.stop())

  await t.test('every agent event carries payload: the frontend reads tool_completed and agent_error without its own fixes', async (t) => {
    const c = await Client.as(gw.ws, 'reader')
    const run = ctx('reader')
    const events = [...goldenRun(run).slice(0, 4), { type: 'agent_error', context: run, agent_name: 'data_agent', error: 'the cost API timed out', error_code: 'TIMEOUT' }]
    t.equal((await ingest(gw.http, { events })).status, 202)
    const frames = await c.count(['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_error'], 5)
    for (const f of frames) t.same(f.payload, f.data, `${f.type}: payload carries what data carries`)
    const [started, thinking, executing, completed, failed] = frames.map(asFrontend)
    t.match(started, { status: 'started' })
    t.match(thinking, { reasoning: 'Looking at the cost data', step_number: 1, status: 'thinking' })
    t.match(executing, { tool_name: 'query_costs', parameters: { month: '2026-10' }, status: 'executing' })
    t.match(completed, { tool_name: 'query_costs', result: { rows: 3 }, results: { rows: 3 }, execution_time_ms: 1500, status: 'completed' }, 'tool_completed: payload.tool_name and payload.result')
    t.match(failed, { error_message: 'the cost API timed out', status: 'error' })

    const history = await fetch(`${gw.http}/api/v1/threads/${run.thread_id}/events`, { headers: { authorization: `Bearer ${await token('reader')}` } })
    const { events: stored } = await history.json() as { events: Frame[] }
    t.same(stored.map((f) => asFrontend(f).status), ['started', 'thinking', 'executing', 'completed', 'error'], 'history frames carry it too')
    await c.close()
  })

  await t.test('every error frame carries payload.error_message, where the frontend\'s error handler reads it', async (t) => {
    const c = await Client.as(gw.ws, 'erring')
    const cases: Array<[unknown, string, string | RegExp]> = [
      [{ type: 'user_message', payload: { text: '  ' } }, 'error', 'Please enter a message'],
      [{ type: 'switch_thread', payload: {} }, 'error', 'Thread ID required'],
      [{ type: 'get_thread_history', payload: { thread_id: 'thread_nobody_has_this_one' } }, 'error', 'Thread not found'],
      [{ type: 'stop_agent', payload: { run_id: 'run_nobody_has_this_one' } }, 'error', 'Run not found'],
      ['{oops', 'error_message', 'Invalid JSON format'],
      [{ type: 'user_message', payload: { text: 42 } }, 'error_message', /^payload\.text: /]
    ]
    for (const [frame, type, message] of cases) {
      const got = await answer(c, frame, (f) => f.type === type)
      t.match(asFrontend(got).error_message, message, `${JSON.stringify(frame)}: payload.error_message`)
      if (type === 'error') t.equal(got.message, asFrontend(got).error_message, 'the platform\'s tests still read message')
    }
    await c.close()
  })

  await t.test('stop as the frontend sends it: no run id, and the user\'s run ends cancelled', async (t) => {
    await stopsAsTheFrontendDoes(t, gw, 'stopper')
  })

  await t.test('a stop without a run id takes the runs of the frame\'s thread, or else the most recent run', async (t) => {
    const c = await Client.as(gw.ws, 'juggler')
    const first = await say(c, 'first long task')
    await c.next(ofRun('agent_started', first.run_id), 10_000)
    const second = await say(c, 'second long task')
    await c.next(ofRun('agent_started', second.run_id), 10_000)
    t.not(first.thread_id, second.thread_id, 'two threads')

    const inThread = await answer(c, { type: 'stop_agent', payload: { agent_id: '', thread_id: first.thread_id } }, (f) => f.type === 'agent_stopped')
    t.equal(inThread.run_id, first.run_id, 'the thread named: its run is stopped')
    t.equal((await c.next(ofRun('agent_completed', first.run_id), 10_000)).status, 'cancelled')
    t.equal((await c.next(ofRun('agent_completed', second.run_id), 10_000)).status, 'completed', 'the other thread\'s run went on')

    const older = await say(c, 'older long task')
    await c.next(ofRun('agent_started', older.run_id), 10_000)
    const newer = await say(c, 'newer long task', older.thread_id as string)
    await c.next(ofRun('agent_started', newer.run_id), 10_000)
    const recent = await answer(c, { type: 'stop_agent', payload: {} }, (f) => f.type === 'agent_stopped')
    t.equal(recent.run_id, newer.run_id, 'no thread named: the most recent run is stopped')
    t.equal((await c.next(ofRun('agent_completed', newer.run_id), 10_000)).status, 'cancelled')
    t.equal((await c.next(ofRun('agent_completed', older.run_id), 10_000)).status, 'completed', 'only that one')
    await c.close()
  })

  await t.test('a stop without a run id never reaches another user\'s run', async (t) => {
    const victim = await Client.as(gw.ws, 'victim')
    const attacker = await Client.as(gw.ws, 'attacker')
    const run = await say(victim, 'my long task')
    await victim.next(ofRun('agent_started', run.run_id), 10_000)
    for (const stop of [{ type: 'stop_agent', payload: {} }, { type: 'stop_processing', data: { thread_id: run.thread_id } }, { type: 'stop_agent', payload: { agent_id: '' }, thread_id: run.thread_id }]) {
      const got = await answer(attacker, stop, (f) => f.type === 'agent_stopped')
      t.match(got, { run_id: null, payload: { status: 'not_running' } }, `${JSON.stringify(stop)}: nothing of the attacker's to stop`)
    }
    t.equal((await victim.next(ofRun('agent_completed', run.run_id), 10_000)).status, 'completed', 'the victim\'s run went on')
    t.equal(victim.frames.some((f) => f.type === 'agent_stopped'), false)
    await Promise.all([victim.close(), attacker.close()])
  })

  await t.test('a thread id the gateway has not seen is adopted by the first user to claim it', async (t) => {
    const alice = await Client.as(gw.ws, 'alice-adopts')
    const bob = await Client.as(gw.ws, 'bob-claims')
    const threadId = randomUUID()
    const first = await say(alice, 'in a thread the platform made', threadId)
    t.equal(first.thread_id, threadId, 'the client\'s thread id is kept')
    await alice.next(ofRun('agent_completed', first.run_id), 10_000)
    const again = await say(alice, 'and again', threadId)
    t.equal(again.thread_id, threadId, 'and stays the user\'s')
    const history = await answer(alice, { type: 'get_thread_history', payload: { thread_id: threadId } }, (f) => f.type === 'thread_history')
    t.same((history.payload as { messages: Array<{ role: string, content: string }> }).messages.filter((m) => m.role === 'user').map((m) => m.content), ['in a thread the platform made', 'and again'])

    // Another user's thread is answered exactly as one that does not exist (reads) or cannot be a thread (writes).
    const foreignWrite = await answer(bob, { type: 'user_message', payload: { text: 'mine now?', thread_id: threadId } }, (f) => f.type === 'error')
    const placeholderWrite = await answer(bob, { type: 'user_message', payload: { text: 'mine now?', thread_id: 'undefined' } }, (f) => f.type === 'error')
    t.same(timeless(foreignWrite), timeless(placeholderWrite), 'a message: another user\'s thread = an id that cannot be a thread')
    t.match(foreignWrite, { message: 'Thread not found', payload: { error_message: 'Thread not found' } })
    for (const type of ['switch_thread', 'get_thread_history']) {
      const foreign = await answer(bob, { type, payload: { thread_id: threadId } }, (f) => f.type === 'error')
      const unknown = await answer(bob, { type, payload: { thread_id: randomUUID() } }, (f) => f.type === 'error')
      t.same(timeless(foreign), timeless(unknown), `${type}: another user's thread = an unknown one`)
    }
    t.equal(bob.frames.some((f) => f.type === 'ack' || f.type === 'thread_data' || f.type === 'thread_history'), false, 'bob got nothing of it')

    // Two users claiming one new id at once: exactly one owns it.
    const contested = randomUUID()
    const race = await Promise.all([alice, bob].map(async (c) => await answer(c, { type: 'user_message', payload: { text: 'race', thread_id: contested } }, (f) => f.type === 'ack' || f.type === 'error')))
    t.same(race.map((f) => f.type).sort(), ['ack', 'error'], 'one claim wins, the other reads "Thread not found"')
    const won = (i: number): number => race[i]!.type === 'ack' ? 1 : 0
    await alice.count(['agent_completed'], 2 + won(0), 15_000)
    await bob.count(['agent_completed'], won(1), 15_000)
    await Promise.all([alice.close(), bob.close()])
  })

  await t.test('agent_completed carries execution_time_ms from the run\'s start and message, the final response', async (t) => {
    const c = await Client.as(gw.ws, 'timed')
    const sent = Date.now()
    const ack = await say(c, 'how long does this take?')
    const done = await c.next(ofRun('agent_completed', ack.run_id), 10_000)
    const received = Date.now()
    const payload = asFrontend(done)
    t.equal(payload.message, done.final_response, 'payload.message is the final response')
    t.match(payload.message, /how long does this take/)
    t.type(payload.execution_time_ms, 'number')
    const ms = payload.execution_time_ms as number
    t.ok(ms >= 4 * STEP_MS, `at least the run's four pauses (${ms} ms)`)
    t.ok(ms <= received - sent, `no more than the user waited (${ms} ms <= ${received - sent} ms)`)

    const stopped = await say(c, 'stop me')
    await c.next(ofRun('agent_started', stopped.run_id), 10_000)
    c.send({ type: 'stop_agent', payload: {} })
    const cancelled = asFrontend(await c.next(ofRun('agent_completed', stopped.run_id), 10_000))
    t.match(cancelled, { status: 'cancelled', message: 'Stopped at your request.' })
    t.type(cancelled.execution_time_ms, 'number', 'a cancelled run says how long it ran too')
    await c.close()
  })
})

t.test('the embedded mode: stop without a run id, and adopted threads, from its in-memory store', async (t) => {
  const gw = await build(t, null, { AGENT_STEP_MS: String(STEP_MS) })
  await t.test('stop', async (t) => { await stopsAsTheFrontendDoes(t, gw, 'embedded-stopper') })
  await t.test('threads', async (t) => {
    const alice = await Client.as(gw.ws, 'embedded-alice')
    const bob = await Client.as(gw.ws, 'embedded-bob')
    const threadId = randomUUID()
    t.equal((await say(alice, 'adopt this', threadId)).thread_id, threadId)
    const foreign = await answer(bob, { type: 'user_message', payload: { text: 'and this?', thread_id: threadId } }, (f) => f.type === 'error')
    t.match(foreign, { message: 'Thread not found', payload: { error_message: 'Thread not found' } })
    await alice.count(['agent_completed'], 1, 10_000)
    await Promise.all([alice.close(), bob.close()])
  })
})
