// Nothing jams: what PostgreSQL would refuse for its content is refused at the edge (HTTP 400, dead letter, error
// frame), nothing of its batch is stored, and the events after it go on.
import t from 'tap'
import { runReferenceAgent } from '../src/agent/reference-agent.js'
import { startWorker } from '../src/agent/worker.js'
import { MAX_DEPTH, MAX_EVENT_BYTES } from '../src/events/storable.js'
import { parseIngestBody } from '../src/events/validate.js'
import { build, Client, ctx, isolate, pgClient, redis, REDIS_URL, SERVICE } from './helper.js'

const FIVE = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed']

t.test('poison over HTTP, on the stream and in chat', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const db = pgClient(t, iso.schema)
  const r = redis(t)
  const count = async (sql: string, params: unknown[] = []): Promise<number> => Number((await db.query(sql, params)).rows[0].n)

  await t.test('each poison body gets a 400 naming its index and field; nothing of its batch is stored', async (t) => {
    const alice = await Client.as(gw.ws, 'poison-alice')
    const context = JSON.stringify(ctx('poison-alice'))
    const thinking = (rest: string): string => `{"type":"agent_thinking","context":${context},${rest}}`
    // Raw JSON text, as a producer would send it: escapes that JSON allows and jsonb does not.
    const cases: Array<{ name: string, event: string, path: string, message: string }> = [
      { name: 'NUL in a string', event: thinking('"reasoning":"a\\u0000b"'), path: 'reasoning', message: 'contains a NUL character' },
      { name: 'NUL in a key', event: thinking('"reasoning":"ok","data":{"no\\u0000te":1}'), path: 'data["no\\u0000te"]', message: 'is a key that contains a NUL character' },
      { name: 'lone high surrogate', event: thinking('"reasoning":"ok","data":{"note":"hello \\ud800 world"}'), path: 'data.note', message: 'contains a lone surrogate' },
      { name: 'lone low surrogate', event: thinking('"reasoning":"\\udc00 and more"'), path: 'reasoning', message: 'contains a lone surrogate' },
      { name: 'lone surrogate in a context field', event: `{"type":"agent_started","context":${context.replace(':"thread_', ':"thread_\\udfff')}}`, path: 'context.thread_id', message: 'contains a lone surrogate' },
      {
        name: '10,000 levels of nesting',
        event: thinking(`"reasoning":"ok","data":{"deep":${'['.repeat(10_000)}${']'.repeat(10_000)}}`),
        path: `data.deep${'[0]'.repeat(MAX_DEPTH - 2)}`,
        message: `nests deeper than ${MAX_DEPTH} levels`
      },
      { name: '1e400', event: `{"type":"tool_completed","context":${context},"tool_name":"query","results":{},"duration":1e400}`, path: 'duration', message: 'must be a finite number' },
      { name: 'an oversized event', event: thinking(`"reasoning":"${'x'.repeat(MAX_EVENT_BYTES)}"`), path: '', message: `is larger than ${MAX_EVENT_BYTES} bytes as JSON` },
      { name: 'a leap second', event: thinking('"reasoning":"ok","timestamp":"2026-12-31T23:59:60Z"'), path: 'timestamp', message: 'must be a date-time that names an instant' }
    ]
    let n = 0
    for (const c of cases) {
      const good = JSON.stringify({ type: 'agent_started', context: ctx('poison-alice'), event_id: `evt_before_poison_${++n}` })
      const res = await fetch(`${gw.http}/api/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-service-id': SERVICE.id, 'x-service-secret': SERVICE.secret },
        body: `{"events":[${good},${c.event}]}`
      })
      const body = await res.json() as Record<string, unknown>
      t.equal(res.status, 400, `${c.name}: 400`)
      t.equal(body.code, 'VALIDATION_ERROR', `${c.name}: VALIDATION_ERROR`)
      t.equal(body.message, `events[1]${c.path ? '.' : ''}${c.path}: ${c.message}`, `${c.name}: the message names the index and the field`)
      t.same(body.details, { index: 1, path: c.path }, `${c.name}: details`)
      t.equal(await count('SELECT count(*) AS n FROM events WHERE event_id = $1', [`evt_before_poison_${n}`]), 0, `${c.name}: the good event of the batch is not stored`)
    }
    t.equal(await count('SELECT count(*) AS n FROM events'), 0, 'nothing stored')
    t.equal(await count('SELECT count(*) AS n FROM runs'), 0, 'no run begun')

    const single = await fetch(`${gw.http}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-service-id': SERVICE.id, 'x-service-secret': SERVICE.secret },
      body: thinking('"reasoning":"a\\ud800"')
    })
    t.same([single.status, ((await single.json()) as { message: string }).message], [400, 'reasoning: contains a lone surrogate'], 'a single event is named by its field')

    const after = { type: 'agent_thinking', context: ctx('poison-alice'), event_id: 'evt_after_poison', reasoning: 'still flowing 😀' }
    const res = await fetch(`${gw.http}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-service-id': SERVICE.id, 'x-service-secret': SERVICE.secret },
      body: JSON.stringify(after)
    })
    t.equal(res.status, 202, 'a good event after them is accepted')
    const delivered = await alice.next('agent_thinking')
    t.equal(delivered.event_id, 'evt_after_poison')
    t.equal(delivered.reasoning, 'still flowing 😀')
    t.same(alice.frames.map((f) => f.type), ['connection_established', 'agent_thinking'], 'nothing of the refused batches was delivered')
    t.equal(await count('SELECT count(*) AS n FROM events'), 1, 'and it is stored')
    await alice.close()
  })

  await t.test('on the stream, a poison entry is dead-lettered with its reason and the next entry is stored', async (t) => {
    const bob = await Client.as(gw.ws, 'poison-bob')
    const key = `${iso.prefix}ingest`
    const context = JSON.stringify(ctx('poison-bob'))
    await r.xadd(key, '*', 'event', `{"type":"agent_thinking","context":${context},"reasoning":"hello \\ud800 world"}`)
    await r.xadd(key, '*', 'event', JSON.stringify({ type: 'agent_thinking', context: ctx('poison-bob'), event_id: 'evt_stream_after_poison', reasoning: 'next' }))
    t.equal((await bob.next('agent_thinking')).event_id, 'evt_stream_after_poison', 'the entry after the poison is delivered')
    const dead = await r.xrange(`${key}:dead`, '-', '+')
    t.equal(dead.length, 1, 'one dead letter')
    const fields = dead[0]![1]
    t.equal(fields[fields.indexOf('reason') + 1], 'reasoning: contains a lone surrogate', 'with the reason naming the field')
    t.equal(await r.xlen(key), 0, 'the stream holds nothing still to do')
    await bob.close()
  })

  await t.test('a chat message the store would refuse gets an error frame naming the field, and no run', async (t) => {
    const worker = await startWorker({ redisUrl: REDIS_URL, prefix: iso.prefix, consumer: 'poison-agent', stepMs: 20, concurrency: 4 })
    t.teardown(() => worker.stop())
    const carol = await Client.as(gw.ws, 'poison-carol')
    const dave = await Client.as(gw.ws, 'poison-dave')
    const frames: Array<[string, Record<string, unknown>]> = [
      ['{"type":"user_message","message":"hello \\ud800 world"}', { type: 'error', message: 'message: contains a lone surrogate' }],
      ['{"type":"user_message","payload":{"message":"a\\u0000b"}}', { type: 'error', message: 'payload.message: contains a NUL character' }],
      // An id is refused earlier, by the id rule of client frames.
      ['{"type":"chat_message","data":{"content":"fine","thread_id":"thread_\\udc00_x"}}', { type: 'error_message', error_code: 'INVALID_MESSAGE' }]
    ]
    for (const [raw, expected] of frames) {
      const before = carol.frames.length
      carol.send(raw)
      const answer = await carol.next((f) => carol.frames.indexOf(f) >= before && ['error', 'error_message', 'ack'].includes(f.type))
      t.match(answer, expected, raw)
    }
    // Another user's run goes on, through the worker and the ingest stream, to its end.
    dave.send({ type: 'user_message', message: 'How do I cut my cloud costs? 😀' })
    const events = await dave.count(FIVE, 5, 10000)
    t.same(events.map((e) => e.type), FIVE, 'another user\'s run completes')
    t.notOk(carol.frames.some((f) => f.type === 'ack' || FIVE.includes(f.type)), 'the refused messages got no ack and no events')
    t.equal(await count('SELECT count(*) AS n FROM runs WHERE user_id = $1', ['poison-carol']), 0, 'no run for them')
    t.equal(await count('SELECT count(*) AS n FROM threads WHERE user_id = $1', ['poison-carol']), 0, 'no thread for them')
    t.equal(await r.xlen(`${iso.prefix}ingest:dead`), 1, 'no dead letter beyond the one above')
    await Promise.all([carol.close(), dave.close()])
  })
})

t.test('the reference agent writes only storable text, whatever message it is given', async (t) => {
  const messages = ['hello \ud800 world', 'nul\u0000inside', `${'a'.repeat(119)}😀 cut at the excerpt`, `${'b'.repeat(59)}😀`, '\udc00']
  for (const message of messages) {
    const emitted: Array<Record<string, unknown>> = []
    const outcome = await runReferenceAgent({ context: ctx('agent-user') as never, message, created_at: Date.now() },
      async (event) => { emitted.push(event) }, { stepMs: 0, stopped: () => false })
    t.equal(outcome, 'completed')
    t.same(emitted.map((e) => e.type), FIVE)
    // The same validation as ingest: every event passes it.
    t.doesNotThrow(() => parseIngestBody({ events: emitted }, 10), `events for ${JSON.stringify(message).slice(0, 40)} are storable`)
  }
})
