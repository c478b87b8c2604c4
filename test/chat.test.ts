// Chat in, runs out: client frames get their answers, a message becomes a run on all the user's sockets, stop cancels it.
import t from 'tap'
import { startWorker } from '../src/agent/worker.js'
import { build, Client, isolate, REDIS_URL } from './helper.js'

const FIVE = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed']

t.test('chat against Redis and PostgreSQL with the reference agent worker', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const worker = await startWorker({ redisUrl: REDIS_URL, prefix: iso.prefix, consumer: 'test-agent', stepMs: 150, concurrency: 10 })
  t.teardown(() => worker.stop())

  await t.test('each client frame type gets its documented answer', async (t) => {
    const c = await Client.as(gw.ws, 'frames-user')
    const answer = async (frame: unknown, type: string): Promise<Record<string, unknown>> => {
      const before = c.frames.length
      c.send(frame)
      return await c.next((f) => c.frames.indexOf(f) >= before && f.type === type)
    }
    t.match(await answer({ type: 'ping' }, 'pong'), { data: { user_id: 'frames-user' } })
    t.match(await answer({ type: 'heartbeat' }, 'heartbeat_ack'), { data: { status: 'healthy' } })
    t.match(await answer({ type: 'user_typing' }, 'ack'), { received_type: 'user_typing', status: 'acknowledged' })
    t.match(await answer('{oops', 'error_message'), { error_code: 'JSON_PARSE_ERROR' })
    t.match(await answer({ type: 'user_message', payload: { text: '   ' } }, 'error'), { message: 'Please enter a message' })
    t.match(await answer({ type: 'user_message', payload: { text: 42 } }, 'error_message'), { error_code: 'INVALID_MESSAGE', error_message: /^payload\.text: / })
    t.match(await answer({ type: 'switch_thread', payload: {} }, 'error'), { message: 'Thread ID required' })
    t.match(await answer({ type: 'stop_agent', payload: {} }, 'agent_stopped'), { run_id: null, payload: { status: 'not_running', run_id: null } }, 'no run id and nothing running')
    t.match(await answer({ type: 'stop_agent', payload: { run_id: 'run_nobody_knows' } }, 'error'), { message: 'Run not found' })

    // The three shapes the platform sends a message in.
    const flat = await answer({ type: 'user_message', text: 'flat text', thread_id: '6b0f7c1e-2a4b-4c0e-9f7e-0a1b2c3d4e5f', client_message_id: 'm1' }, 'ack')
    t.match(flat, { received_type: 'user_message', client_message_id: 'm1', user_id: 'frames-user', run_id: /^run_/ })
    t.equal(flat.thread_id, '6b0f7c1e-2a4b-4c0e-9f7e-0a1b2c3d4e5f', 'an unknown thread id is adopted, not replaced')
    const viaData = await answer({ type: 'chat_message', data: { content: 'in data', thread_id: flat.thread_id } }, 'ack')
    t.equal(viaData.thread_id, flat.thread_id, 'the user\'s own thread is kept')
    const start = await answer({ type: 'start_agent', payload: { user_request: 'start it', thread_id: null } }, 'ack')
    t.match(start, { received_type: 'start_agent', run_id: /^run_/ })

    const data = await answer({ type: 'switch_thread', payload: { thread_id: flat.thread_id } }, 'thread_data')
    const history = await answer({ type: 'get_thread_history', thread_id: flat.thread_id }, 'thread_history')
    const messages = (history.payload as { messages: Array<{ role: string, content: string }> }).messages
    t.same(messages.filter((m) => m.role === 'user').map((m) => m.content), ['flat text', 'in data'])
    t.equal((data.payload as { thread_id: string }).thread_id, flat.thread_id)
    await c.count(['agent_completed'], 3, 10000)
    await c.close()
  })

  await t.test('a message starts a run whose five events reach all of the user\'s sockets, built from the verified identity', async (t) => {
    const tabs = [await Client.as(gw.ws, 'runner'), await Client.as(gw.ws, 'runner')]
    const other = await Client.as(gw.ws, 'bystander')
    tabs[0]!.send({ type: 'user_message', payload: { message: 'How do I cut my cloud costs?' }, user_id: 'bystander' })
    const ack = await tabs[0]!.next('ack')
    for (const tab of tabs) {
      const events = await tab.count(FIVE, 5, 10000)
      t.same(events.map((e) => e.type), FIVE, 'the five events in order')
      t.ok(events.every((e) => e.run_id === ack.run_id && e.thread_id === ack.thread_id && e.user_id === 'runner'), 'the run of the ack, for the token\'s user')
      t.equal(events[0]!.websocket_client_id, tabs[0]!.frames[0]!.data?.connection_id, 'websocket_client_id is the sending connection')
      t.match(events[4]!.final_response, /cloud costs/)
    }
    t.equal(other.frames.filter((f) => FIVE.includes(f.type)).length, 0, 'the claimed user_id in the frame changed nothing')
    await Promise.all([...tabs, other].map((c) => c.close()))
  })

  await t.test('another user\'s thread reads like an unknown one, and a message cannot join it', async (t) => {
    const owner = await Client.as(gw.ws, 'owner')
    owner.send({ type: 'user_message', payload: { message: 'mine' } })
    const { thread_id: threadId } = await owner.next('ack')
    const intruder = await Client.as(gw.ws, 'intruder')
    const answers = async (thread: string): Promise<unknown[]> => {
      const out: unknown[] = []
      for (const type of ['switch_thread', 'get_thread_history']) {
        const before = intruder.frames.length
        intruder.send({ type, payload: { thread_id: thread } })
        const { timestamp: _, ...answer } = await intruder.next((f) => intruder.frames.indexOf(f) >= before && f.type === 'error')
        out.push(answer)
      }
      return out
    }
    const foreign = await answers(threadId as string)
    t.same(foreign, await answers('thread_that_nobody_has_0001'), 'the same answers for another user\'s thread and an unknown one')
    t.match(foreign[0], { message: 'Thread not found', payload: { error_message: 'Thread not found' } })
    const before = intruder.frames.length
    intruder.send({ type: 'user_message', payload: { message: 'let me in', thread_id: threadId } })
    t.match(await intruder.next((f) => intruder.frames.indexOf(f) >= before && (f.type === 'error' || f.type === 'ack')), { type: 'error', message: 'Thread not found' }, 'a message never joins the owner\'s thread')
    await owner.count(['agent_completed'], 1, 10000)
    await Promise.all([owner.close(), intruder.close()])
  })

  await t.test('stop_agent cancels the run: it ends with agent_completed status cancelled', async (t) => {
    const c = await Client.as(gw.ws, 'stopper')
    c.send({ type: 'user_message', payload: { message: 'a long task' } })
    const { run_id: runId } = await c.next('ack')
    await c.next('agent_started', 10000)
    c.send({ type: 'stop_agent', payload: { run_id: runId } })
    t.match(await c.next('agent_stopped'), { payload: { status: 'stopped', run_id: runId } })
    const end = await c.next('agent_completed', 10000)
    t.match(end, { run_id: runId, status: 'cancelled' })
    t.ok(c.frames.filter((f) => FIVE.includes(f.type)).length < 5, 'the run did not go on')
    c.send({ type: 'stop_agent', payload: { run_id: runId } })
    t.match(await c.next((f) => f.type === 'agent_stopped' && (f.payload as { status: string }).status !== 'stopped'), { payload: { status: 'not_running', run_status: 'cancelled' } })
    const other = await Client.as(gw.ws, 'not-the-owner')
    other.send({ type: 'stop_agent', payload: { run_id: runId } })
    t.match(await other.next('error'), { message: 'Run not found' }, 'another user cannot stop it')
    await Promise.all([c.close(), other.close()])
  })
})

t.test('the embedded mode runs the reference agent in-process: a message comes back as a whole run', async (t) => {
  const gw = await build(t, null, { AGENT_STEP_MS: '10' })
  const c = await Client.as(gw.ws, 'embedded-user')
  c.send({ type: 'user_message', payload: { message: 'hello there' } })
  const events = await c.count(FIVE, 5)
  t.same(events.map((e) => e.type), FIVE)
  t.same(events.map((e) => e.seq), [1, 2, 3, 4, 5])
  await c.close()
})
