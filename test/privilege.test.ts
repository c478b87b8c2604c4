// Least privilege and mode: one credential per holder, /metrics behind its token, dev tokens only where the mode allows.
import t from 'tap'
import { ADMIN, AUTH_SERVICE, build, ctx, goldenRun, ingest, isolate, SERVICE, token } from './helper.js'

t.test('ingest takes the agent backends\' credential only: not the operator\'s, not the one sent to the auth service', async (t) => {
  const gw = await build(t, isolate(t))
  const event = goldenRun(ctx('frank'))[0]
  for (const headers of [
    { 'x-service-id': AUTH_SERVICE.id, 'x-service-secret': AUTH_SERVICE.secret },
    { 'x-service-id': SERVICE.id, 'x-service-secret': AUTH_SERVICE.secret },
    { 'x-service-id': SERVICE.id, 'x-service-secret': ADMIN.secret },
    { 'x-admin-secret': ADMIN.secret }
  ] as Array<Record<string, string>>) {
    t.equal((await ingest(gw.http, event, headers)).status, 401)
  }
  t.equal((await ingest(gw.http, event)).status, 202, 'the agent backends\' own credential works')
})

t.test('/metrics behind METRICS_TOKEN; not served under NODE_ENV=production without one', async (t) => {
  const metricsToken = 'a-metrics-scrape-token-0123456789'
  const gw = await build(t, null, { METRICS_TOKEN: metricsToken })
  t.equal((await fetch(`${gw.http}/metrics`)).status, 401)
  t.equal((await fetch(`${gw.http}/metrics`, { headers: { authorization: `Bearer ${await token('alice')}` } })).status, 401, 'a user token is not it')
  const ok = await fetch(`${gw.http}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })
  t.equal(ok.status, 200)
  t.match(await ok.text(), /aeg_sockets/)

  const prod = await build(t, isolate(t), { NODE_ENV: 'production', AUTH_MODE: 'jwt', JWT_SECRET: 'privilege-jwt-secret-0123456789abcdef', ALLOWED_ORIGINS: 'https://app.example.com' })
  t.equal((await fetch(`${prod.http}/metrics`)).status, 404)
})

t.test('the mode decides: with Redis and PostgreSQL and no opt-in there is no demo page and no /demo/token, whatever NODE_ENV says', async (t) => {
  const gw = await build(t, isolate(t), { NODE_ENV: 'development', ALLOW_DEV_AUTH: 'false', AUTH_MODE: 'jwt', JWT_SECRET: 'privilege-jwt-secret-0123456789abcdef' })
  const res = await fetch(`${gw.http}/demo/token?user=anyone`)
  t.equal(res.status, 404, 'nobody mints tokens')
  t.equal((await fetch(`${gw.http}/`)).status, 404, 'no demo page')
  const embedded = await build(t, null)
  t.equal((await fetch(`${embedded.http}/demo/token?user=alice`)).status, 200, 'the embedded mode keeps them')
})

t.test('ticket URLs come from configuration, never from X-Forwarded-Host or Host', async (t) => {
  const headers = { authorization: `Bearer ${await token('alice')}`, 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }
  const plain = await build(t, null)
  const one = await (await fetch(`${plain.http}/api/websocket/ticket`, { method: 'POST', headers })).json() as { websocket_url: string }
  t.match(one.websocket_url, new RegExp(`^${plain.ws}/ws\\?ticket=`), 'the address the request arrived on')
  const configured = await build(t, null, { PUBLIC_WS_URL: 'wss://gateway.example.com/', TRUST_PROXY: '1' })
  const two = await (await fetch(`${configured.http}/api/websocket/ticket`, { method: 'POST', headers })).json() as { websocket_url: string }
  t.match(two.websocket_url, /^wss:\/\/gateway\.example\.com\/ws\?ticket=/, 'PUBLIC_WS_URL, even with a proxy trusted')
})
