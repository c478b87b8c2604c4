// Event-loop pressure: served routes answer 503 UNDER_PRESSURE with Retry-After, while /health stays 200.
import t from 'tap'
import { build } from './helper.js'

t.test('an overloaded event loop sheds new work but stays alive', async (t) => {
  const gw = await build(t, null, { PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '30' })
  // Keep the loop busy: 80 ms blocked out of every 90.
  const hog = setInterval(() => { const end = Date.now() + 80; while (Date.now() < end); }, 10)
  t.teardown(() => clearInterval(hog))
  let shed: { status: number, body: Record<string, unknown> } | undefined
  let retryAfter: string | null = null
  // The delay is sampled about once a second: ask until the sample shows it (bounded).
  for (let i = 0; i < 40 && shed === undefined; i++) {
    const res = await fetch(`${gw.http}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    if (res.status === 503) { shed = { status: 503, body: await res.json() as Record<string, unknown> }; retryAfter = res.headers.get('retry-after') } else await res.arrayBuffer()
  }
  t.ok(shed, 'a served route answered 503')
  t.match(shed?.body, { code: 'UNDER_PRESSURE', message: /overloaded/ })
  t.equal(retryAfter, '5')
  t.equal((await fetch(`${gw.http}/health`)).status, 200, 'health is not shed')
  clearInterval(hog)
})
