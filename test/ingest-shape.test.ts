// Both ingest shapes: the context flat at the top level (the platform's emitter) or nested in `context`; when both
// are given they must agree field by field.
import t from 'tap'
import { build, Client, ctx, ingest, isolate, pgClient } from './helper.js'

t.test('ingest shapes', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const db = pgClient(t, iso.schema)
  const stored = async (): Promise<number> => Number((await db.query('SELECT count(*) AS n FROM events')).rows[0].n)
  const erin = await Client.as(gw.ws, 'shape-erin')

  await t.test('the flat shape is accepted, stored and delivered exactly as the nested one', async (t) => {
    const context: Record<string, string> = { ...ctx('shape-erin'), websocket_client_id: 'conn_shape_0001' }
    const detail = { agent_name: 'supervisor', reasoning: 'Reading the invoices', step_number: 2, timestamp: 1795502439.375, data: { source: 'ledger' } }
    const nested = await ingest(gw.http, { type: 'agent_thinking', context, event_id: 'evt_shape_nested', ...detail })
    const flat = await ingest(gw.http, { type: 'agent_thinking', ...context, event_id: 'evt_shape_flat', ...detail })
    t.same([nested.status, flat.status], [202, 202])
    const frames = await erin.count(['agent_thinking'], 2)
    const strip = ({ seq: _seq, event_id: _id, ...rest }: Record<string, unknown>): Record<string, unknown> => rest
    t.same(frames.map((f) => f.event_id), ['evt_shape_nested', 'evt_shape_flat'])
    t.same(strip(frames[1]!), strip(frames[0]!), 'the same frame but for the id and the offset')
    t.match(frames[1], { user_id: 'shape-erin', thread_id: context.thread_id, run_id: context.run_id, request_id: context.request_id, websocket_client_id: 'conn_shape_0001' })
    const { rows } = await db.query<{ event_id: string, body: Record<string, unknown> }>(
      'SELECT event_id, body FROM events WHERE event_id = ANY($1) ORDER BY event_id DESC', [['evt_shape_nested', 'evt_shape_flat']])
    t.same(rows.map((r) => r.event_id), ['evt_shape_nested', 'evt_shape_flat'])
    t.same(strip(rows[1]!.body), strip(rows[0]!.body), 'the same stored event')
  })

  await t.test('both shapes given and agreeing are accepted; a field given on one side only is taken', async (t) => {
    const context = ctx('shape-erin')
    const both = await ingest(gw.http, { type: 'agent_started', context, ...context, event_id: 'evt_shape_both' })
    t.equal(both.status, 202)
    const partial = await ingest(gw.http, { type: 'agent_thinking', context, user_id: context.user_id, websocket_client_id: 'conn_shape_0002', reasoning: 'flat extra', event_id: 'evt_shape_partial' })
    t.equal(partial.status, 202)
    const frame = await erin.next((f) => f.event_id === 'evt_shape_partial')
    t.equal(frame.websocket_client_id, 'conn_shape_0002', 'the flat websocket_client_id completes the context')
    t.equal(frame.user_id, 'shape-erin')
  })

  await t.test('when both are given and disagree, a 400 names the field; nothing of the batch is stored', async (t) => {
    const before = await stored()
    const context = ctx('shape-erin')
    for (const field of ['user_id', 'thread_id', 'run_id', 'request_id'] as const) {
      const good = { type: 'agent_started', context, event_id: `evt_shape_ok_${field}` }
      const res = await ingest(gw.http, { events: [good, { type: 'agent_started', context, [field]: `${context[field]}_other` }] })
      t.equal(res.status, 400)
      t.equal(res.body.code, 'VALIDATION_ERROR')
      t.equal(res.body.message, `events[1].${field}: disagrees with context.${field}`)
      t.same(res.body.details, { index: 1, path: field })
    }
    const client = await ingest(gw.http, { type: 'agent_started', context: { ...context, websocket_client_id: 'conn_a_000001' }, websocket_client_id: 'conn_b_000001' })
    t.equal(client.body.message, 'websocket_client_id: disagrees with context.websocket_client_id')
    t.equal(await stored(), before, 'nothing stored')
  })

  await t.test('the flat shape gets the same rules as the context, named by the flat field', async (t) => {
    const { run_id: _run, ...noRun } = ctx('shape-erin')
    const missing = await ingest(gw.http, { type: 'agent_started', ...noRun })
    t.same([missing.status, missing.body.message, missing.body.details], [400, 'run_id: is required', { index: 0, path: 'run_id' }])
    const placeholder = await ingest(gw.http, { type: 'agent_started', ...ctx('shape-erin'), thread_id: 'mock_thread' })
    t.match(placeholder.body.message, /^thread_id: must not start with the placeholder prefix "mock_"/)
    const wrongType = await ingest(gw.http, { type: 'agent_started', ...ctx('shape-erin'), request_id: 42 })
    t.match(wrongType.body.message, /^request_id: must be string/)
    const neither = await ingest(gw.http, { type: 'agent_started' })
    t.equal(neither.body.message, 'context: is required (or user_id, thread_id, run_id, request_id at the top level)')
  })
  await erin.close()
})
