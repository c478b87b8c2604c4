// Revocation: an admin call or a control message closes a user's or a token's sockets on every instance within 2 s.
import t from 'tap'
import { LogCapture } from './fixtures/log-capture.js'
import { ADMIN, AUTH_SERVICE, bearer, build, connect, DEV_SECRET, expectRefused, isolate, redis, type Running, SERVICE, token } from './helper.js'

const logs = new LogCapture()
logs.secret(SERVICE.secret, DEV_SECRET, ADMIN.secret)
const ADMIN_HEADERS = { 'content-type': 'application/json', 'x-admin-secret': ADMIN.secret }

async function revoke (gw: Running, body: unknown, headers: Record<string, string> = ADMIN_HEADERS): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await fetch(`${gw.http}/api/v1/admin/revoke`, { method: 'POST', headers, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

t.test('revoking a user closes their sockets on both instances within 2 s; other users keep theirs', async (t) => {
  const iso = isolate(t)
  const one = await build(t, iso, { INSTANCE_ID: 'gw-one' }, logs.logger)
  const two = await build(t, iso, { INSTANCE_ID: 'gw-two' }, logs.logger)
  const old = await token('judy')
  const judy = [await connect(one, old), await connect(two, old), await connect(two, await token('judy'))]
  const bystander = await connect(two, await token('kim'))

  const started = Date.now()
  const res = await revoke(one, { user_id: 'judy' })
  t.equal(res.status, 202)
  t.match(res.body, { revoked: 'user', user_id: 'judy' })
  const closes = await Promise.all(judy.map(async (c) => await c.closed))
  const elapsed = Date.now() - started
  t.ok(elapsed < 2000, `all three closed in ${elapsed} ms`)
  t.same(closes, judy.map(() => ({ code: 1008, reason: 'token revoked' })), 'with 1008 "token revoked"')
  t.ok(judy.every((c) => c.frames.some((f) => f.type === 'error_message' && f.error_code === 'TOKEN_REVOKED')), 'after a TOKEN_REVOKED frame')

  bystander.send({ type: 'ping' })
  await bystander.next('pong')
  t.pass('another user\'s socket is untouched')

  const back = await expectRefused(t, `${two.ws}/ws`, bearer(old))
  t.match(back.error_message, /revoked/, 'the revoked token cannot reconnect, on any instance')
  // Tokens carry iat in whole seconds: one issued in a later second is newer than the revocation.
  const fresh = await token('judy', { now: Math.floor(Date.now() / 1000) + 1 })
  const again = await connect(one, fresh)
  t.equal(again.frames[0]?.data?.user_id, 'judy', 'a token issued after the revocation connects')
  await Promise.all([again.close(), bystander.close()])
})

t.test('revoking one jti closes only that token\'s sockets', async (t) => {
  const iso = isolate(t)
  const one = await build(t, iso, {}, logs.logger)
  const two = await build(t, iso, {}, logs.logger)
  const stolen = await token('liam')
  const jti = (JSON.parse(Buffer.from(stolen.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti
  const victims = [await connect(one, stolen), await connect(two, stolen)]
  const kept = await connect(two, await token('liam'))

  const res = await revoke(two, { jti })
  t.match(res.body, { revoked: 'jti', jti })
  t.same(await Promise.all(victims.map(async (c) => await c.closed)), [{ code: 1008, reason: 'token revoked' }, { code: 1008, reason: 'token revoked' }])
  kept.send({ type: 'ping' })
  await kept.next('pong')
  t.pass('the same user\'s socket on another token stays')
  await expectRefused(t, `${one.ws}/ws`, bearer(stolen))
  await kept.close()
})

t.test('another service can publish the revocation on the control channel itself', async (t) => {
  const iso = isolate(t)
  const one = await build(t, iso, {}, logs.logger)
  const two = await build(t, iso, {}, logs.logger)
  const jwt = await token('mia')
  const sockets = [await connect(one, jwt), await connect(two, jwt)]
  const r = redis(t)
  t.equal(await r.publish(one.app.fanout.controlChannel, JSON.stringify({ type: 'revoke', user_id: 'mia' })), 2, 'both instances listen')
  t.same(await Promise.all(sockets.map(async (c) => (await c.closed).code)), [1008, 1008])
  // The instances store it themselves, so the message alone keeps the token out.
  await r.publish(one.app.fanout.controlChannel, 'not json')
  await expectRefused(t, `${two.ws}/ws`, bearer(jwt))
})

t.test('the embedded mode revokes through its in-process broker', async (t) => {
  const gw = await build(t, null, {}, logs.logger)
  const c = await connect(gw, await token('noah'))
  t.equal((await revoke(gw, { user_id: 'noah' })).status, 202)
  t.equal((await c.closed).code, 1008)
})

t.test('the admin call needs the operator\'s credential and exactly one of user_id and jti', async (t) => {
  const gw = await build(t, isolate(t), {}, logs.logger)
  const noAuth = await revoke(gw, { user_id: 'x' }, { 'content-type': 'application/json' })
  t.equal(noAuth.status, 401)
  t.equal(noAuth.body.code, 'SERVICE_AUTH_FAILED')
  const user = await revoke(gw, { user_id: 'x' }, { 'content-type': 'application/json', authorization: `Bearer ${await token('x')}` })
  t.equal(user.status, 401, 'a user token is not an admin credential')
  // An agent backend's ingest credential, and the one the gateway sends to the auth service, revoke nobody.
  for (const headers of [{ 'x-service-id': SERVICE.id, 'x-service-secret': SERVICE.secret }, { 'x-service-id': AUTH_SERVICE.id, 'x-service-secret': AUTH_SERVICE.secret }, { 'x-admin-secret': SERVICE.secret }] as Array<Record<string, string>>) {
    const other = await revoke(gw, { user_id: 'x' }, { 'content-type': 'application/json', ...headers })
    t.equal(other.status, 401, 'not an operator credential')
  }

  const neither = await revoke(gw, {})
  t.equal(neither.status, 400)
  t.match(neither.body, { code: 'VALIDATION_ERROR', message: /user_id or body\/jti/ })
  const both = await revoke(gw, { user_id: 'x', jti: 'y' })
  t.equal(both.status, 400)
  t.match(both.body.message, /jti/)
  const empty = await revoke(gw, { user_id: '' })
  t.equal(empty.status, 400)
  t.match(empty.body.message, /user_id/)
})

t.test('no token, ticket or secret reached a log line of this file', async (t) => {
  t.same(logs.leaks(), [], 'no leak')
})

t.test('the revocation list unreachable: a connect is refused as retryable (1011), never let through', async (t) => {
  const gw = await build(t, isolate(t), {}, logs.logger)
  const jwt = await token('unchecked')
  t.equal((await gw.app.auth.verify(jwt)).userId, 'unchecked', 'checked and good while Redis answers')
  // The command connection closed for good: every read of the list fails at once, with and without a jti.
  gw.app.redis!.command.disconnect(false)
  await t.rejects(gw.app.auth.verify(jwt), { code: 'AUTH_UNAVAILABLE', message: 'revocation list unavailable, retry later' }, 'a token with a jti (both keys in one read)')
  await expectRefused(t, `${gw.ws}/ws`, bearer(jwt), 'AUTH_UNAVAILABLE')
})
