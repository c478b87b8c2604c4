// What the e2e suite stands on: the auth fixture's e2e endpoint (gated like the platform's), and how a target is read from the environment.
import t from 'tap'
import { mintTokens, parseTokens, remoteTarget } from '../e2e/target.js'
import { startAuthService } from './fixtures/auth-service.js'

const SECRET = 'e2e-support-test-secret-0123456789abcdef'
const EXPECT = { serviceId: 'netra-backend', serviceSecret: 'e2e-support-service-secret' }

async function testAuth (url: string, key?: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await fetch(`${url}/auth/e2e/test-auth`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'x-e2e-bypass-key': key }) },
    body: JSON.stringify({ email: 'someone@example.com' })
  })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

t.test('POST /auth/e2e/test-auth mints real tokens only for the key, never in production', async (t) => {
  const open = await startAuthService(SECRET, EXPECT, { bypassKey: 'the-bypass-key' })
  const unset = await startAuthService(SECRET, EXPECT)
  const prod = await startAuthService(SECRET, EXPECT, { bypassKey: 'the-bypass-key', production: true })
  t.teardown(async () => { await Promise.all([open.close(), unset.close(), prod.close()]) })

  t.equal((await testAuth(open.url)).status, 401, 'no key: 401')
  t.equal((await testAuth(open.url, 'wrong')).status, 401, 'a wrong key: 401')
  t.equal((await testAuth(unset.url, 'the-bypass-key')).status, 503, 'no key configured: 503')
  t.equal((await testAuth(prod.url, 'the-bypass-key')).status, 403, 'production: 403 whatever the key')

  const minted = await testAuth(open.url, 'the-bypass-key')
  t.equal(minted.status, 200)
  t.match(minted.body, { token_type: 'Bearer', user: { id: 'e2e-someone', email: 'someone@example.com' } })
  // The token is a real one: the same service validates it as any other.
  const res = await fetch(`${open.url}/auth/validate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: minted.body.access_token, token_type: 'access' }) })
  t.match(await res.json(), { valid: true, user_id: 'e2e-someone' })

  const [a, b] = await mintTokens(open.url, 'the-bypass-key', ['a@example.com', 'b@example.com'])
  t.ok(a !== undefined && b !== undefined && a !== b, 'the suite mints one token per e-mail')
  await t.rejects(mintTokens(open.url, 'wrong', ['a@example.com']), /answered 401/)
})

t.test('E2E_TOKENS: comma, space or newline separated, or a JSON array', async (t) => {
  t.same(parseTokens('a.b.c, d.e.f\ng.h.i'), ['a.b.c', 'd.e.f', 'g.h.i'])
  t.same(parseTokens('["a.b.c","d.e.f"]'), ['a.b.c', 'd.e.f'])
  t.throws(() => parseTokens('[1, 2]'), /array of token strings/)
})

t.test('a deployment is named by E2E_WS_URL or E2E_API_URL; the other is derived', async (t) => {
  t.equal(remoteTarget({}), undefined, 'nothing named: the local stack')
  const fromApi = remoteTarget({ E2E_API_URL: 'https://gw.example.com/', E2E_TOKENS: 'x.y.z' })
  t.match(fromApi, { apiUrl: 'https://gw.example.com', wsUrl: 'wss://gw.example.com/ws' })
  const fromWs = remoteTarget({ E2E_WS_URL: 'wss://gw.example.com/api/v1/websocket', E2E_TOKENS: 'x.y.z' })
  t.match(fromWs, { apiUrl: 'https://gw.example.com', wsUrl: 'wss://gw.example.com/api/v1/websocket' })
  t.throws(() => remoteTarget({ E2E_API_URL: 'https://gw.example.com' }), /E2E_TOKENS, or E2E_AUTH_URL with E2E_BYPASS_KEY/)
  await t.rejects(fromApi!.tokens(3), /holds 1 token/)
})
