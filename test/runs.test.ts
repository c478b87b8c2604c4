// Runs and history over HTTP: lifecycle in the runs table, 409 after a run ends, and another user's data answers 404.
import t from 'tap'
import { build, ctx, goldenRun, ingest, isolate, token } from './helper.js'
import { StreamClient } from './stream-client.js'

t.test('runs, history and duplicates', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const other = await build(t, iso)
  const get = async (path: string, user: string): Promise<{ status: number, body: Record<string, unknown> }> => {
    const res = await fetch(`${gw.http}${path}`, { headers: { authorization: `Bearer ${await token(user)}` } })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  }
  const context = ctx('rita')

  await t.test('a run goes running → completed, and refuses events after it ended', async (t) => {
    const [started, thinking, executing, completedTool, completed] = goldenRun(context)
    await ingest(gw.http, { events: [started, thinking] })
    t.match((await get(`/api/v1/runs/${context.run_id}`, 'rita')).body, { run_id: context.run_id, status: 'running', ended_at: null, events: 2, last_seq: 2 })
    await ingest(gw.http, { events: [executing, completedTool, completed] })
    const run = (await get(`/api/v1/runs/${context.run_id}`, 'rita')).body
    t.match(run, { status: 'completed', events: 5, last_seq: 5 })
    t.type(run.ended_at, 'string')

    const late = await ingest(gw.http, { events: [{ ...thinking, event_id: undefined, reasoning: 'too late' }] })
    t.equal(late.status, 409)
    t.equal(late.body.code, 'RUN_CONFLICT')
    t.match(late.body.message, /^events\[0\]: run .* has ended \(completed\)/)
    const next = ctx('rita')
    const mixed = await ingest(gw.http, { events: [goldenRun(next)[0], { type: 'agent_error', context: next, error: 'boom' }, goldenRun(next)[1]] })
    t.equal(mixed.status, 409, 'an event after agent_error in the same batch')
    t.match(mixed.body.details, { index: 2, run_id: next.run_id })
    t.equal((await get(`/api/v1/runs/${next.run_id}`, 'rita')).status, 404, 'nothing of the refused batch was stored')
    const stolen = await ingest(gw.http, { ...goldenRun({ ...context, user_id: 'mallory' })[1] })
    t.equal(stolen.status, 409, 'a run id of another user is refused')
  })

  await t.test('thread history pages by offset; another user\'s thread and run are 404', async (t) => {
    const page = await get(`/api/v1/threads/${context.thread_id}/events?after=1&limit=3`, 'rita')
    t.equal(page.status, 200)
    const events = page.body.events as Array<Record<string, unknown>>
    t.same(events.map((e) => e.seq), [2, 3, 4])
    t.same(events.map((e) => e.type), ['agent_thinking', 'tool_executing', 'tool_completed'])
    t.equal(page.body.next_after, 4)
    const last = await get(`/api/v1/threads/${context.thread_id}/events?after=4`, 'rita')
    t.same((last.body.events as unknown[]).length, 1)
    t.equal(last.body.next_after, null)

    for (const path of [`/api/v1/threads/${context.thread_id}/events`, `/api/v1/runs/${context.run_id}`]) {
      const theirs = await get(path, 'mallory')
      t.equal(theirs.status, 404, `${path} for mallory`)
      t.equal(theirs.body.code, 'NOT_FOUND')
    }
    t.equal((await get('/api/v1/threads/nope_thread/events', 'rita')).status, 404)
    t.equal((await fetch(`${gw.http}/api/v1/runs/${context.run_id}`)).status, 401, 'no token: 401')
    const bad = await get(`/api/v1/threads/${context.thread_id}/events?limit=5000`, 'rita')
    t.equal(bad.status, 400)
    t.match(bad.body.message, /limit/)
  })

  await t.test('the same event sent to two instances at once is stored and delivered once, and takes one offset', async (t) => {
    const c = ctx('dora')
    const client = new StreamClient('dora')
    await client.connect(gw.ws)
    const event = { ...goldenRun(c)[0], event_id: 'evt_twice_0001' }
    const results = await Promise.all([ingest(gw.http, event), ingest(other.http, event), ingest(gw.http, { events: [event] })])
    t.same(results.map((r) => r.status), [202, 202, 202])
    t.equal(results.reduce((n, r) => n + Number(r.body.stored), 0), 1, 'stored once')
    await ingest(gw.http, goldenRun(c)[1])
    await client.until(2)
    t.same(client.seqs(), [1, 2], 'delivered once; the next event takes the next offset')
    await client.socket?.close()
  })
})
