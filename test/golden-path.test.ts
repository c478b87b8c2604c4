// The golden path on real Redis and PostgreSQL: a user's socket receives the five events of their run, in order, flat and in data.
import t from 'tap'
import { build, Client, ctx, goldenRun, ingest, isolate, pgClient } from './helper.js'

const REQUIRED: Record<string, string[]> = {
  agent_started: ['user_id', 'thread_id'],
  agent_thinking: ['reasoning'],
  tool_executing: ['tool_name', 'parameters'],
  tool_completed: ['tool_name', 'results', 'duration'],
  agent_completed: ['status', 'final_response']
}

t.test('five events reach the user in order, each with its required fields at the top level and in data', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const alice = await Client.as(gw.ws, 'alice')
  const established = alice.frames[0]!
  t.equal(established.type, 'connection_established', 'first frame is connection_established')
  t.equal(established.data?.user_id, 'alice')
  t.type(established.data?.connection_id, 'string')
  t.same(established.data?.golden_path_events, Object.keys(REQUIRED))
  t.equal(established.data?.heartbeat_interval_s, 25)

  const context = ctx('alice')
  const res = await ingest(gw.http, { events: goldenRun(context) })
  t.equal(res.status, 202)
  t.equal((res.body.event_ids as string[]).length, 5)
  t.equal(res.body.stored, 5)

  const got = await alice.count(Object.keys(REQUIRED), 5)
  t.same(got.map((f) => f.type), Object.keys(REQUIRED), 'in order')
  for (const frame of got) {
    t.equal(frame.run_id, context.run_id, `${frame.type} carries run_id`)
    t.equal(frame.thread_id, context.thread_id)
    t.equal(frame.user_id, 'alice')
    t.equal(frame.request_id, context.request_id)
    t.match(frame.event_id, /^evt_/, 'event_id set by the gateway')
    t.type(frame.timestamp, 'number', 'timestamp set by the gateway')
    for (const field of REQUIRED[frame.type]!) {
      t.ok(frame[field] !== undefined, `${frame.type}.${field} at the top level`)
      if (!['user_id', 'thread_id'].includes(field)) t.same(frame.data?.[field], frame[field], `${frame.type}.data.${field}`)
    }
  }
  t.same(got.map((f) => f.event_id), res.body.event_ids, 'delivered ids are the acknowledged ids')

  const db = pgClient(t, iso.schema)
  const { rows } = await db.query('SELECT type FROM events WHERE run_id = $1 ORDER BY occurred_at, type', [context.run_id])
  t.equal(rows.length, 5, 'all five are in the durable log')
  await alice.close()
})

t.test('the alias path, the query token and a raw-JWT subprotocol serve the same socket', async (t) => {
  const gw = await build(t, isolate(t))
  const { token } = await import('./helper.js')
  const viaAlias = await Client.as(gw.ws, 'bob', '/api/v1/websocket')
  const viaQuery = await Client.open(`${gw.ws}/ws?token=${await token('bob')}`)
  await viaQuery.next('connection_established')
  const raw = await token('bob')
  const viaProtocol = await Client.open(`${gw.ws}/ws`, { protocols: [`bearer.${raw}`] })
  t.equal(viaProtocol.socket.protocol, `bearer.${raw}`, 'token-bearing subprotocol echoed as sent')
  await viaProtocol.next('connection_established')

  const res = await ingest(gw.http, goldenRun(ctx('bob'))[0])
  t.equal(res.status, 202, 'a single event is accepted too')
  for (const c of [viaAlias, viaQuery, viaProtocol]) {
    const frame = await c.next('agent_started')
    t.equal(frame.user_id, 'bob')
    await c.close()
  }
})
