// The demo page's server side: served outside production only, with dev tokens for typed-in names.
import t from 'tap'
import { createDevVerifier } from '../src/plugins/app/auth/dev-verifier.js'
import { build, DEV_SECRET, isolate } from './helper.js'

t.test('dev tokens for the demo page', async (t) => {
  const gw = await build(t, null)
  const res = await fetch(`${gw.http}/demo/token?user=alice`)
  t.equal(res.status, 200)
  const body = await res.json() as { token: string, user_id: string }
  t.equal(body.user_id, 'alice')
  t.equal((await createDevVerifier(DEV_SECRET).verify(body.token)).userId, 'alice')
  for (const [user, message] of [['test', /placeholder/], ['a b', /pattern/], ['', /pattern|required/]] as const) {
    const bad = await fetch(`${gw.http}/demo/token?user=${encodeURIComponent(user)}`)
    t.equal(bad.status, 400, `"${user}" refused`)
    t.match(((await bad.json()) as { message: string }).message, message)
  }
  const page = await fetch(`${gw.http}/`)
  t.equal(page.status, 200, 'the page (or how to build it) at /')
})

t.test('no demo page and no dev tokens in production, nor with remote auth', async (t) => {
  const prod = await build(t, isolate(t), { NODE_ENV: 'production', AUTH_MODE: 'remote', AUTH_SERVICE_URL: 'http://127.0.0.1:9', ALLOWED_ORIGINS: 'https://app.example.com' })
  t.equal((await fetch(`${prod.http}/demo/token?user=alice`)).status, 404)
  t.equal((await fetch(`${prod.http}/`)).status, 404)
  const remote = await build(t, null, { AUTH_MODE: 'remote', AUTH_SERVICE_URL: 'http://127.0.0.1:9', ALLOWED_ORIGINS: 'https://app.example.com' })
  t.equal((await fetch(`${remote.http}/demo/token?user=alice`)).status, 404, 'tokens only where the gateway signs them')
})
