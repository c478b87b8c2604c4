// Ingest: service credentials, per-event validation naming index and field, all-or-nothing batches, idempotent event ids.
import t from 'tap'
import { build, Client, ctx, goldenRun, ingest, isolate, pgClient, SERVICE } from './helper.js'

t.test('ingest', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, { INGEST_MAX_BATCH: '10' })
  const db = pgClient(t, iso.schema)
  const stored = async (): Promise<number> => Number((await db.query('SELECT count(*) AS n FROM events')).rows[0].n)
  const frank = await Client.as(gw.ws, 'frank')

  await t.test('a service without credentials, or with wrong ones, gets 401', async (t) => {
    const attempts: Array<Record<string, string>> = [{}, { 'x-service-id': SERVICE.id, 'x-service-secret': 'wrong-secret-wrong' }, { 'x-service-id': 'other', 'x-service-secret': SERVICE.secret }]
    for (const headers of attempts) {
      const res = await ingest(gw.http, goldenRun(ctx('frank'))[0], headers)
      t.equal(res.status, 401)
      t.equal(res.body.code, 'SERVICE_AUTH_FAILED')
    }
    t.equal(await stored(), 0)
  })

  await t.test('a missing required field is a 400 that names the field', async (t) => {
    const res = await ingest(gw.http, { type: 'tool_executing', context: ctx('frank'), tool_name: 'search' })
    t.equal(res.status, 400)
    t.equal(res.body.code, 'VALIDATION_ERROR')
    t.match(res.body.message, /^parameters: is required/)
    t.same(res.body.details, { index: 0, path: 'parameters' })
  })

  await t.test('one bad event rejects the whole batch, naming its index and path; nothing is stored or published', async (t) => {
    const run = goldenRun(ctx('frank'))
    const bad = { ...run[3], results: undefined, duration: 'slow' }
    delete bad.results
    const res = await ingest(gw.http, { events: [run[0], run[1], run[2], bad, run[4]] })
    t.equal(res.status, 400)
    t.match(res.body.message, /^events\[3\]\.results: is required/)
    t.same(res.body.details, { index: 3, path: 'results' })

    const wrongType = await ingest(gw.http, { events: [run[0], { ...run[1], reasoning: 42 }] })
    t.match(wrongType.body.message, /^events\[1\]\.reasoning: must be string/)
    const unknown = await ingest(gw.http, { events: [{ ...run[0], type: 'agent_dancing' }] })
    t.match(unknown.body.message, /^events\[0\]\.type: must be one of agent_started/)
    const extra = await ingest(gw.http, { events: [{ ...run[0], user_id: 'mallory' }] })
    t.match(extra.body.message, /^events\[0\]\.user_id: disagrees with context\.user_id/, 'a flat routing field cannot contradict the context')
    const unknownField = await ingest(gw.http, { events: [{ ...run[0], channel: 'mallory' }] })
    t.match(unknownField.body.message, /^events\[0\]\.channel: is not an allowed field/)
    t.equal(await stored(), 0, 'nothing stored')

    // Per-channel order: if anything of the rejected batches had been published it would arrive before this.
    const marker = await ingest(gw.http, run[0])
    const first = await frank.next('agent_started')
    t.equal(first.event_id, (marker.body.event_ids as string[])[0], 'the first event frank sees is the one accepted after the rejections')
    t.equal(frank.frames.length, 2, 'connection_established, then the accepted event only')
  })

  await t.test('placeholder and empty ids are refused, naming the field and the rule', async (t) => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ ...ctx('frank'), run_id: 'placeholder' }, /context\.run_id: must not be the placeholder value "placeholder"/],
      [{ ...ctx('frank'), thread_id: 'mock_thread' }, /context\.thread_id: must not start with the placeholder prefix "mock_"/],
      [{ ...ctx('frank'), user_id: 'undefined' }, /context\.user_id: must not be the placeholder value/],
      [{ ...ctx('frank'), request_id: '' }, /context\.request_id: /],
      [{ ...ctx('frank'), request_id: '   ' }, /context\.request_id: must not be empty/]
    ]
    for (const [context, message] of cases) {
      const res = await ingest(gw.http, { type: 'agent_started', context })
      t.equal(res.status, 400)
      t.match(res.body.message, message)
    }
    const { run_id: _omit, ...noRun } = ctx('frank')
    const missing = await ingest(gw.http, { type: 'agent_started', context: noRun })
    t.match(missing.body.message, /^context\.run_id: is required/)
  })

  await t.test('batches are bounded, bodies must be JSON objects', async (t) => {
    const big = await ingest(gw.http, { events: Array.from({ length: 11 }, () => goldenRun(ctx('frank'))[0]) })
    t.equal(big.status, 400)
    t.equal(big.body.code, 'BATCH_TOO_LARGE')
    t.match(big.body.message, /at most 10 events \(got 11\)/)
    const empty = await ingest(gw.http, { events: [] })
    t.match(empty.body.message, /^events: must hold at least one event/)
    const res = await fetch(`${gw.http}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-service-id': SERVICE.id, 'x-service-secret': SERVICE.secret }, body: '{"type":' })
    t.equal(res.status, 400)
    t.equal((await res.json() as { code: string }).code, 'INVALID_BODY')
  })

  await t.test('an event sent twice with the same event_id is stored and delivered once', async (t) => {
    const before = await stored()
    const event = { ...goldenRun(ctx('frank'))[1], event_id: 'evt_retry_0001', timestamp: '2026-11-24T10:00:00Z' }
    const one = await ingest(gw.http, event)
    const two = await ingest(gw.http, { events: [event, goldenRun(ctx('frank'))[4]] })
    t.same([one.body.stored, one.body.duplicates], [1, 0])
    t.same([two.body.stored, two.body.duplicates], [1, 1])
    await frank.next('agent_completed')
    t.equal(frank.frames.filter((f) => f.event_id === 'evt_retry_0001').length, 1, 'delivered once')
    t.equal(frank.frames.find((f) => f.event_id === 'evt_retry_0001')?.timestamp, Date.parse('2026-11-24T10:00:00Z') / 1000, 'the producer\'s timestamp is kept')
    t.equal(await stored(), before + 2)
  })
  await frank.close()
})
