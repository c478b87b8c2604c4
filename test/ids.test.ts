// The id rule at every edge: subjects (dev, jwt, remote), ingest contexts, history routes and chat frames.
import t from 'tap'
import { idProblem } from '../src/context/ids.js'
import { startAuthService } from './fixtures/auth-service.js'
import { mint } from './fixtures/tokens.js'
import { bearer, build, Client, ctx, expectRefused, goldenRun, ingest, isolate, AUTH_SERVICE, token } from './helper.js'

// Distinct JavaScript strings that UTF-8 makes equal, a NUL, a hash-tag breaker, spaces, and one too long.
const HOSTILE = ['rt-v\uD800', 'rt-v\uFFFD', 'nul\u0000x', '}alice', '{alice}', 'a b', 'a/b', 'ä', 'x'.repeat(129)]

t.test('the rule: a closed ASCII set, 1 to 128 characters', async (t) => {
  for (const ok of ['alice', 'user-8f2c', 'thread_ws_1758_1_ab12', 'a@b.example', 'google:1234', '0c4f6d1e-7b1a-4b53-9d0e-7d2d2c2b8e11', 'x'.repeat(128)]) {
    t.equal(idProblem(ok), undefined, ok)
  }
  for (const bad of [...HOSTILE, '', 42]) t.type(idProblem(bad), 'string', JSON.stringify(bad))
})

t.test('a subject outside the rule is AUTH_FAILED and 1008, in dev, jwt and remote modes', async (t) => {
  const secret = 'ids-jwt-secret-0123456789abcdefghij'
  const dev = await build(t, isolate(t))
  const jwt = await build(t, isolate(t), { AUTH_MODE: 'jwt', JWT_SECRET: secret })
  const fixture = await startAuthService(secret, { serviceId: AUTH_SERVICE.id, serviceSecret: AUTH_SERVICE.secret })
  t.teardown(() => fixture.close())
  const remote = await build(t, isolate(t), { AUTH_MODE: 'remote', AUTH_SERVICE_URL: fixture.url })
  for (const sub of HOSTILE) {
    await expectRefused(t, `${dev.ws}/ws`, bearer(await token(sub)))
    await expectRefused(t, `${jwt.ws}/ws`, bearer(await mint({ key: secret, sub })))
    await expectRefused(t, `${remote.ws}/ws`, bearer(await mint({ key: secret, sub })))
  }
  const res = await fetch(`${dev.http}/api/websocket/ticket`, { method: 'POST', headers: { authorization: `Bearer ${await token('rt-v\uD800')}` } })
  t.equal(res.status, 401, 'no ticket either')
  t.equal((await res.json() as { code: string }).code, 'AUTH_FAILED')
})

t.test('ingest: a context id outside the rule is a 400 naming the field', async (t) => {
  const gw = await build(t, isolate(t))
  for (const field of ['user_id', 'thread_id', 'run_id', 'request_id']) {
    for (const value of ['rt-v\uD800', 'nul\u0000x', '}x']) {
      const res = await ingest(gw.http, goldenRun({ ...ctx('frank'), [field]: value })[0])
      t.equal(res.status, 400, `${field} ${JSON.stringify(value)}`)
      t.equal(res.body.code, 'VALIDATION_ERROR')
      // A NUL or a lone surrogate is refused first by the storable check, which names the same field.
      t.match(res.body.message, new RegExp(`^context\\.${field}: (must be 1 to 128 characters|contains a (lone surrogate|NUL))`))
    }
  }
})

t.test('history: a NUL in an id, or an offset past 2^53, is a 400 with a message of ours', async (t) => {
  const gw = await build(t, isolate(t))
  const headers = { authorization: `Bearer ${await token('frank')}` }
  const cases: Array<[string, RegExp]> = [
    ['/api/v1/threads/a%00b/events', /^params\/threadId must be 1 to 128/],
    ['/api/v1/threads/%7Balice%7D/events', /^params\/threadId must be 1 to 128/],
    ['/api/v1/runs/a%00b', /^params\/runId must be 1 to 128/],
    ['/api/v1/threads/th-1/events?after=9223372036854775808', /^querystring\/after must be <= 9007199254740991/],
    ['/api/v1/threads/th-1/events?after=1e300', /^querystring\/after must be <= 9007199254740991/]
  ]
  for (const [path, message] of cases) {
    const res = await fetch(`${gw.http}${path}`, { headers })
    const body = await res.json() as { code: string, message: string }
    t.equal(res.status, 400, path)
    t.equal(body.code, 'VALIDATION_ERROR')
    t.match(body.message, message)
  }
})

t.test('chat frames: a thread or run id outside the rule is an INVALID_MESSAGE frame naming the field', async (t) => {
  const gw = await build(t, isolate(t))
  const c = await Client.as(gw.ws, 'frank')
  const frames: Array<[Record<string, unknown>, RegExp]> = [
    [{ type: 'user_message', payload: { message: 'hi', thread_id: 'a\u0000b' } }, /^payload\.thread_id: must be 1 to 128/],
    [{ type: 'user_message', message: 'hi', thread_id: '}x' }, /^thread_id: must be 1 to 128/],
    [{ type: 'stop_agent', run_id: 'rt-v\uD800' }, /^run_id: must be 1 to 128/],
    [{ type: 'get_thread_history', data: { thread_id: 'a b' } }, /^data\.thread_id: must be 1 to 128/]
  ]
  for (const [frame, message] of frames) {
    const from = c.frames.length
    c.socket.send(JSON.stringify(frame))
    const answer = await c.next((f) => c.frames.indexOf(f) >= from && f.type === 'error_message')
    t.equal(answer.error_code, 'INVALID_MESSAGE', String(frame.type))
    t.match(answer.error_message, message)
  }
  t.notOk(c.frames.some((f) => f.error_code === 'INTERNAL_ERROR'), 'never an internal error')
})
