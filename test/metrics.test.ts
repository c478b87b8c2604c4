// /metrics: sockets, events in and out by type, latency, resumes, auth outcomes and dependency health, in Prometheus text.
import t from 'tap'
import { build, Client, ctx, ingest, isolate } from './helper.js'
import { StreamClient } from './stream-client.js'

function value (text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('metrics reflect what happened', async (t) => {
  const gw = await build(t, isolate(t))
  const scrape = async (): Promise<string> => {
    const res = await fetch(`${gw.http}/metrics`)
    t.match(res.headers.get('content-type'), /text\/plain/)
    return await res.text()
  }
  const client = new StreamClient('metered')
  await client.connect(gw.ws)
  const context = ctx('metered')
  await ingest(gw.http, { events: Array.from({ length: 32 }, (_, i) => ({ type: 'agent_thinking', context, reasoning: `m${i}` })) })
  await ingest(gw.http, { events: [{ type: 'agent_thinking', context, reasoning: 'dup', event_id: 'evt_metric_dup' }] })
  await ingest(gw.http, { events: [{ type: 'agent_thinking', context, reasoning: 'dup', event_id: 'evt_metric_dup' }] })
  await client.until(33)
  await client.kill()
  await client.connect(gw.ws) // resumes: ok
  // Live frames wait until the resume is done: this one arriving means the resume was counted.
  await ingest(gw.http, { type: 'agent_thinking', context, reasoning: 'after resume' })
  await client.until(34)
  const refused = await Client.open(`${gw.ws}/ws?token=bad.token.value`)
  await refused.closed

  const text = await scrape()
  t.equal(value(text, 'aeg_sockets'), 1, 'one socket open')
  t.equal(value(text, 'aeg_users'), 1)
  t.equal(value(text, 'aeg_events_ingested_total{type="agent_thinking"}'), 34)
  t.equal(value(text, 'aeg_events_duplicate_total'), 1)
  t.equal(value(text, 'aeg_frames_delivered_total{type="agent_thinking"}'), 34, 'live frames (the replay is not counted again)')
  t.equal(value(text, 'aeg_resumes_total{outcome="ok"}'), 1)
  t.ok((value(text, 'aeg_ws_auth_total{outcome="AUTH_FAILED"}') ?? 0) >= 1, 'refused authentications are counted')
  t.ok((value(text, 'aeg_delivery_latency_seconds_count') ?? 0) >= 2, 'latency is sampled')
  t.equal(value(text, 'aeg_dependency_up{dependency="redis"}'), 1)
  t.equal(value(text, 'aeg_dependency_up{dependency="postgres"}'), 1)
  t.ok(value(text, 'aeg_process_resident_memory_bytes')! > 0, 'process metrics')
  t.notMatch(text, /metered/, 'no user id in any label')
  await client.socket?.close()
})

t.test('remote auth: cache outcomes and the breaker are exported', async (t) => {
  const { startAuthService } = await import('./fixtures/auth-service.js')
  const { mint } = await import('./fixtures/tokens.js')
  const { AUTH_SERVICE } = await import('./helper.js')
  const secret = 'metrics-fixture-secret-0123456789abcdef'
  const fixture = await startAuthService(secret, { serviceId: AUTH_SERVICE.id, serviceSecret: AUTH_SERVICE.secret })
  t.teardown(() => fixture.close())
  const gw = await build(t, isolate(t), { AUTH_MODE: 'remote', AUTH_SERVICE_URL: fixture.url })
  const jwt = await mint({ key: secret, sub: 'cached-user' })
  for (let i = 0; i < 3; i++) {
    const c = await Client.open(`${gw.ws}/ws`, { headers: { authorization: `Bearer ${jwt}` } })
    await c.next('connection_established')
    await c.close()
  }
  const text = await (await fetch(`${gw.http}/metrics`)).text()
  t.equal(value(text, 'aeg_auth_cache_total{result="miss"}'), 1, 'one call to the auth service')
  t.equal(value(text, 'aeg_auth_cache_total{result="hit"}'), 2, 'then two cache hits')
  t.equal(value(text, 'aeg_auth_breaker_open'), 0, 'breaker closed')
})
