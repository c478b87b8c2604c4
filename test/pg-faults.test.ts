// PostgreSQL faults: a killed backend and an unreachable server give 503 (nothing acknowledged), then ingest recovers.
import t from 'tap'
import { build, ctx, ingest, isolate, PG_URL, pgClient } from './helper.js'
import { proxyFor } from './fixtures/tcp-proxy.js'
import { StreamClient, upTo } from './stream-client.js'

t.test('ingest across PostgreSQL faults loses nothing it acknowledged', async (t) => {
  const { proxy, url: viaProxy } = await proxyFor(t, PG_URL, 5432)
  const iso = isolate(t)
  const gw = await build(t, iso, { DATABASE_URL: viaProxy, INSTANCE_ID: `pgfault-${process.pid}` })
  const admin = pgClient(t, iso.schema)
  const client = new StreamClient('pg-fault-user')
  await client.connect(gw.ws)
  const context = ctx('pg-fault-user')
  let acked = 0
  const send = async (label: string): Promise<number> => {
    const res = await ingest(gw.http, { type: 'agent_thinking', context, reasoning: label })
    if (res.status === 202) acked++
    return res.status
  }

  t.equal(await send('before'), 202)
  // Kill every backend of this instance: idle pool clients die, the next ingest gets fresh connections.
  const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`aeg:pgfault-${process.pid}`])
  t.ok(killed.rowCount! > 0, `terminated ${killed.rowCount} backend(s)`)
  let status = await send('after kill')
  if (status === 503) status = await send('after kill, retried')
  t.equal(status, 202, 'ingest recovers after backends are killed')

  await proxy.cut()
  const down = await ingest(gw.http, { type: 'agent_thinking', context, reasoning: 'while down' })
  t.equal(down.status, 503, 'unreachable database: 503')
  t.equal(down.body.code, 'STORE_UNAVAILABLE')
  t.match(down.body.message, /nothing was stored, retry later/)
  t.equal((await fetch(`${gw.http}/health/ready`)).status, 503, 'not ready')

  await proxy.heal()
  t.equal(await send('after heal'), 202, 'ingest recovers when the database is back')
  await client.until(acked)
  t.same(client.seqs(), upTo(acked), `every acknowledged event (${acked}) delivered, in order`)
  t.notOk(client.events.some((f) => f.reasoning === 'while down'), 'the refused event was not stored')
  await client.socket?.close()
})
