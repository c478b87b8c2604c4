// Auth at the socket: bad tokens get AUTH_FAILED and 1008, every token form works, and nothing gets in unverified.
import t, { type Test } from 'tap'
import { startAuthService } from './fixtures/auth-service.js'
import { LogCapture } from './fixtures/log-capture.js'
import { AUTH_SERVICE, build, Client, DEV_SECRET, isolate, SERVICE, token } from './helper.js'

const logs = new LogCapture()
logs.secret(SERVICE.secret, DEV_SECRET, AUTH_SERVICE.secret)

async function refused (t: Test, url: string, opts: Parameters<typeof Client.open>[1] = {}): Promise<void> {
  const c = await Client.open(url, opts)
  const frame = await c.next('error_message')
  t.equal(frame.error_code, 'AUTH_FAILED', 'error_message AUTH_FAILED')
  t.equal(c.frames.length, 1, 'nothing but the error frame')
  const { code } = await c.closed
  t.equal(code, 1008, 'closed with 1008')
}

t.test('dev mode refuses missing, forged, expired, wrong-type and malformed tokens', async (t) => {
  const gw = await build(t, isolate(t), {}, logs.logger)
  await t.test('no token', (t) => refused(t, `${gw.ws}/ws`))
  await t.test('forged signature', async (t) => refused(t, `${gw.ws}/ws`, { headers: { authorization: `Bearer ${await token('alice', { secret: 'another-secret-of-at-least-32-chars!!' })}` } }))
  await t.test('expired', async (t) => refused(t, `${gw.ws}/ws`, { headers: { authorization: `Bearer ${await token('alice', { now: Math.floor(Date.now() / 1000) - 7200, ttlS: 60 })}` } }))
  await t.test('refresh token used as access', async (t) => refused(t, `${gw.ws}/ws`, { headers: { authorization: `Bearer ${await token('alice', { tokenType: 'refresh' })}` } }))
  await t.test('garbage', (t) => refused(t, `${gw.ws}/ws?token=not-a-jwt`))
  await t.test('alg none', async (t) => {
    const [, payload] = (await token('alice')).split('.')
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`
    await refused(t, `${gw.ws}/ws`, { headers: { authorization: `Bearer ${none}` } })
  })
})

t.test('subprotocol negotiation echoes the token-bearing entry exactly as offered', async (t) => {
  const gw = await build(t, isolate(t), {}, logs.logger)
  const jwt = await token('alice')
  const b64 = `jwt.${Buffer.from(jwt).toString('base64url')}`
  const c = await Client.open(`${gw.ws}/ws`, { protocols: ['jwt-auth', b64] })
  t.equal(c.socket.protocol, b64, 'the classic frontend offer gets jwt.<b64> back')
  t.equal((await c.next('connection_established')).data?.user_id, 'alice')
  await c.close()

  const unsupported = await Client.open(`${gw.ws}/ws`, { protocols: ['mqtt'], headers: { authorization: `Bearer ${jwt}` } }).catch((err: Error) => err)
  t.ok(unsupported instanceof Error, 'an offer with no supported subprotocol is not accepted as is')
})

t.test('remote mode asks POST /auth/validate with the service headers, and an outage is 1011, not 1008', async (t) => {
  const secret = logs.secret('remote-fixture-secret-0123456789abcdef')
  const fixture = await startAuthService(secret, { serviceId: AUTH_SERVICE.id, serviceSecret: AUTH_SERVICE.secret })
  t.teardown(() => fixture.close())
  const gw = await build(t, isolate(t), { AUTH_MODE: 'remote', AUTH_SERVICE_URL: fixture.url, AUTH_CONNECT_TIMEOUT_MS: '200', AUTH_READ_TIMEOUT_MS: '200', AUTH_BREAKER_FAILURES: '10' }, logs.logger)

  const ok = await Client.open(`${gw.ws}/ws`, { headers: { authorization: `Bearer ${await token('remote-user', { secret })}` } })
  t.equal((await ok.next('connection_established')).data?.user_id, 'remote-user', 'user_id comes from the service\'s answer')
  t.equal(fixture.calls, 1)
  await ok.close()

  await refused(t, `${gw.ws}/ws`, { headers: { authorization: `Bearer ${await token('remote-user', { secret: 'wrong-secret-wrong-secret-wrong-secret' })}` } })

  for (const mode of ['error', 'hang'] as const) {
    fixture.mode = mode
    const c = await Client.open(`${gw.ws}/ws`, { headers: { authorization: `Bearer ${await token('remote-user', { secret })}` } })
    const frame = await c.next('error_message')
    t.equal(frame.error_code, 'AUTH_UNAVAILABLE', `${mode}: AUTH_UNAVAILABLE`)
    t.equal((await c.closed).code, 1011, `${mode}: closed with 1011 (retryable), never 1008`)
  }
})

t.test('no test bypass: test headers, mock tokens and E2E environment flags let nobody in', async (t) => {
  // The platform's permissive fallbacks (contract section 2.6) are exactly what must not exist here.
  const env = { E2E_TESTING: '1', STAGING_E2E_TEST: '1', E2E_OAUTH_SIMULATION_KEY: 'k', DEMO_MODE: '1', EMERGENCY_MODE: '1' }
  Object.assign(process.env, env)
  t.teardown(() => { for (const key of Object.keys(env)) Reflect.deleteProperty(process.env, key) })
  const gw = await build(t, isolate(t), env, logs.logger)
  const headers = { 'x-test-type': 'E2E', 'x-e2e-test': 'true', 'x-e2e-bypass-key': 'k', 'x-test-mode': '1' }
  await t.test('test headers, no token', (t) => refused(t, `${gw.ws}/ws`, { headers }))
  await t.test('test headers and a mock token', (t) => refused(t, `${gw.ws}/ws`, { headers: { ...headers, authorization: 'Bearer mock_jwt_token_user_1' } }))
  await t.test('a mock token in a subprotocol', (t) => refused(t, `${gw.ws}/ws`, { protocols: ['e2e-testing', 'jwt.mock_jwt_token_user_1'] }))
  await t.test('a staging-auth subprotocol', async (t) => refused(t, `${gw.ws}/ws`, { protocols: ['staging-auth', `staging-auth.${await token('alice', { secret: 'another-secret-of-at-least-32-chars!!' })}`] }))
})

t.test('the log capture finds a token when one is there', async (t) => {
  const probe = new LogCapture()
  probe.logger.info({ header: `Bearer ${await token('alice')}` }, 'a careless line')
  probe.logger.info({ token: await token('alice') }, 'a redacted field')
  t.equal(probe.leaks().length, 1, 'the careless line is caught; the redacted field is not a leak')
})

t.test('no token, ticket or secret reached a log line of this file', async (t) => {
  t.same(logs.leaks(), [], 'no leak')
})
