// Local verification (AUTH_MODE=jwt): HS256 with a secret, RS256/ES256/EdDSA via JWKS with rotation, skew, no alg none or confusion.
import { exportSPKI } from 'jose'
import t from 'tap'
import { startJwksServer, signingKey, type SigningKey } from './fixtures/jwks-server.js'
import { LogCapture } from './fixtures/log-capture.js'
import { mint, unsigned } from './fixtures/tokens.js'
import { bearer, build, connect, DEV_SECRET, expectRefused, isolate, SERVICE, TestClock } from './helper.js'

const SECRET = 'local-jwt-secret-0123456789abcdefghij'
const logs = new LogCapture()
logs.secret(SECRET, SERVICE.secret, DEV_SECRET)
const nowS = (): number => Math.floor(Date.now() / 1000)

const withKey = (key: SigningKey, sub: string, opts: Partial<Parameters<typeof mint>[0]> = {}): Promise<string> =>
  mint({ key: key.privateKey, alg: key.alg, kid: key.kid, sub, ...opts })

t.test('HS256 with JWT_SECRET: platform tokens in, every other shape out, no network', async (t) => {
  const gw = await build(t, isolate(t), { AUTH_MODE: 'jwt', JWT_SECRET: SECRET }, logs.logger)
  const ok = await connect(gw, await mint({ key: SECRET, sub: 'local-user' }))
  t.equal(ok.frames[0]?.data?.user_id, 'local-user')
  await ok.close()

  const valid = await mint({ key: SECRET })
  const cases: Array<[string, string]> = [
    ['expired', await mint({ key: SECRET, now: nowS() - 7200, ttlS: 60 })],
    ['forged signature', await mint({ key: 'another-secret-of-at-least-32-chars!!' })],
    ['alg none', unsigned(valid)],
    ['wrong iss', await mint({ key: SECRET, iss: 'someone-else' })],
    ['wrong aud', await mint({ key: SECRET, aud: 'netra-admin' })],
    ['refresh token used as access', await mint({ key: SECRET, tokenType: 'refresh' })],
    ['no token_type', await mint({ key: SECRET, tokenType: null })],
    ['no jti', await mint({ key: SECRET, jti: null })],
    ['not valid yet (nbf beyond the skew)', await mint({ key: SECRET, nbf: nowS() + 120 })],
    ['issued in the future (iat beyond the skew)', await mint({ key: SECRET, now: nowS() + 120 })],
    ['issued more than 24 h ago', await mint({ key: SECRET, now: nowS() - 25 * 3600, ttlS: 26 * 3600 })],
    ['exp not a number', await mint({ key: SECRET, times: { exp: String(nowS() + 3600) } })],
    ['iat not a number', await mint({ key: SECRET, times: { iat: 'now' } })],
    ['nbf not a number', await mint({ key: SECRET, times: { nbf: null } })],
    ['RS256 with no JWKS configured', await withKey(await signingKey('RS256', 'k1'), 'alice')]
  ]
  for (const [name, jwt] of cases) await t.test(name, (t) => expectRefused(t, `${gw.ws}/ws`, bearer(jwt)).then(() => {}))
  // The refusals say what is wrong, with the header read by the HS256 verifier alone.
  await t.rejects(gw.app.auth.verify('not-a-token'), { code: 'AUTH_FAILED', message: 'malformed token' })
  await t.rejects(gw.app.auth.verify(await withKey(await signingKey('ES256', 'k2'), 'alice')), { code: 'AUTH_FAILED', message: 'tokens signed with this algorithm are not accepted' })
  await t.rejects(gw.app.auth.verify(unsigned(valid)), { code: 'AUTH_FAILED' }, 'alg none')
})

t.test('with a JWKS, a verified token is remembered, never past its expiry or its 24 h age; revocation still applies', async (t) => {
  const clock = new TestClock()
  const key = await signingKey('ES256', 'cache-1')
  const jwks = await startJwksServer([key])
  t.teardown(() => jwks.close())
  const gw = await build(t, isolate(t), { AUTH_MODE: 'jwt', JWT_JWKS_URL: jwks.url, JWT_CLOCK_SKEW_S: '0' }, logs.logger, { clock })
  const nowAt = (): number => Math.floor(clock.now() / 1000)
  const brief = await withKey(key, 'brief', { now: nowAt(), ttlS: 5 })
  await (await connect(gw, brief)).close()
  await (await connect(gw, brief)).close()
  t.match(gw.app.auth.status().cache, { hits: 1, misses: 1 }, 'the second connect verified nothing')
  clock.advance(6000)
  await expectRefused(t, `${gw.ws}/ws`, bearer(brief))
  t.match(gw.app.auth.status().cache, { misses: 2 }, 'past its exp the token was verified again, and refused')

  // Issued 23 h 59 min 58 s ago with a long exp: the cache must not keep it in past its 24 h age.
  const old = await withKey(key, 'old', { now: nowAt() - (24 * 3600 - 2), ttlS: 48 * 3600 })
  await gw.app.auth.verify(old)
  clock.advance(3000)
  await t.rejects(gw.app.auth.verify(old), { code: 'AUTH_FAILED' }, 'too old now, though the cache took it a moment ago')

  // Issued before the revocation, which takes the wall clock's time.
  const kept = await withKey(key, 'kept', { now: Math.floor(Date.now() / 1000) - 10 })
  await gw.app.auth.verify(kept)
  await gw.app.sessions.revoke({ userId: 'kept' })
  await t.rejects(gw.app.auth.verify(kept), { code: 'AUTH_FAILED' }, 'a revoked token is refused even with its verdict cached')
})

t.test('HS256 alone is verified at every connect, with no cache in front, and the clock decides its expiry', async (t) => {
  const clock = new TestClock()
  const gw = await build(t, isolate(t), { AUTH_MODE: 'jwt', JWT_SECRET: SECRET, JWT_CLOCK_SKEW_S: '0' }, logs.logger, { clock })
  t.equal(gw.app.auth.status().cache, undefined, 'no cache')
  const brief = await mint({ key: SECRET, sub: 'brief', now: Math.floor(clock.now() / 1000), ttlS: 5 })
  await (await connect(gw, brief)).close()
  clock.advance(6000)
  await expectRefused(t, `${gw.ws}/ws`, bearer(brief))
  const old = await mint({ key: SECRET, sub: 'old', now: Math.floor(clock.now() / 1000) - (24 * 3600 - 2), ttlS: 48 * 3600 })
  await gw.app.auth.verify(old)
  clock.advance(3000)
  await t.rejects(gw.app.auth.verify(old), { code: 'AUTH_FAILED' }, 'past its 24 h age by the injected clock')
})

t.test('the clock skew is configurable', async (t) => {
  const justExpired = await mint({ key: SECRET, now: nowS() - 70, ttlS: 60 })
  const lenient = await build(t, isolate(t), { AUTH_MODE: 'jwt', JWT_SECRET: SECRET }, logs.logger)
  await (await connect(lenient, justExpired)).close()
  t.pass('expired 10 s ago: inside the default 30 s skew')
  const strict = await build(t, isolate(t), { AUTH_MODE: 'jwt', JWT_SECRET: SECRET, JWT_CLOCK_SKEW_S: '5' }, logs.logger)
  await expectRefused(t, `${strict.ws}/ws`, bearer(justExpired))
})

t.test('JWKS: RS256, ES256 and EdDSA keys; no alg none, no algorithm confusion', async (t) => {
  const keys = await Promise.all([signingKey('RS256', 'rsa-1'), signingKey('ES256', 'ec-1'), signingKey('EdDSA', 'ed-1')])
  const jwks = await startJwksServer(keys)
  t.teardown(() => jwks.close())
  const gw = await build(t, isolate(t), { AUTH_MODE: 'jwt', JWT_JWKS_URL: jwks.url }, logs.logger)
  for (const key of keys) {
    const c = await connect(gw, await withKey(key, `user-${key.alg}`))
    t.equal(c.frames[0]?.data?.user_id, `user-${key.alg}`, `${key.alg} accepted`)
    await c.close()
  }
  t.equal(jwks.fetches, 1, 'the key set was fetched once and cached')

  const rsa = keys[0]!
  const publicPem = await exportSPKI(rsa.publicKey)
  const stranger = await signingKey('RS256', 'rsa-1')
  const cases: Array<[string, string]> = [
    ['HS256 signed with the RSA public key (algorithm confusion)', await mint({ key: publicPem, alg: 'HS256', kid: 'rsa-1' })],
    ['alg none', unsigned(await withKey(rsa, 'alice'))],
    ['a key that is not in the set, under a known kid', await withKey(stranger, 'alice')],
    ['an unknown kid', await withKey(await signingKey('ES256', 'nobody'), 'alice')],
    ['HS256 with no JWT_SECRET configured', await mint({ key: SECRET })]
  ]
  for (const [name, jwt] of cases) await t.test(name, (t) => expectRefused(t, `${gw.ws}/ws`, bearer(jwt)).then(() => {}))

  // With both a secret and a key set, an HS256 token is checked against the secret only, never a public key.
  const both = await build(t, isolate(t), { AUTH_MODE: 'jwt', JWT_JWKS_URL: jwks.url, JWT_SECRET: SECRET }, logs.logger)
  await expectRefused(t, `${both.ws}/ws`, bearer(await mint({ key: publicPem, alg: 'HS256', kid: 'rsa-1' })))
  await (await connect(both, await mint({ key: SECRET, sub: 'hs-user' }))).close()
  await (await connect(both, await withKey(rsa, 'rs-user'))).close()
  t.pass('both families are served side by side')
})

t.test('JWKS key rotation while sockets are open', async (t) => {
  const oldKey = await signingKey('RS256', 'key-2025')
  const newKey = await signingKey('ES256', 'key-2026')
  const jwks = await startJwksServer([oldKey])
  t.teardown(() => jwks.close())
  const gw = await build(t, isolate(t), { AUTH_MODE: 'jwt', JWT_JWKS_URL: jwks.url, JWKS_COOLDOWN_MS: '0' }, logs.logger)
  const before = await connect(gw, await withKey(oldKey, 'rotating'))

  jwks.publish([newKey])
  const after = await connect(gw, await withKey(newKey, 'rotating'))
  t.equal(after.frames[0]?.data?.user_id, 'rotating', 'a token of the new key connects: the unknown kid made the set refetch')
  t.equal(jwks.fetches, 2)

  before.send({ type: 'ping' })
  await before.next('pong')
  t.pass('the socket opened with the old key stays open')
  before.send({ type: 'auth_refresh', token: await withKey(newKey, 'rotating') })
  t.equal((await before.next('auth_refreshed')).type, 'auth_refreshed', 'and moves to a token of the new key')

  await expectRefused(t, `${gw.ws}/ws`, bearer(await withKey(oldKey, 'rotating')))
  t.pass('a new token of the retired key no longer connects')
  await Promise.all([before.close(), after.close()])
})

t.test('an unreachable JWKS is AUTH_UNAVAILABLE and 1011, not a bad token', async (t) => {
  const key = await signingKey('RS256', 'k')
  const jwks = await startJwksServer([key])
  await jwks.close()
  const gw = await build(t, isolate(t), { AUTH_MODE: 'jwt', JWT_JWKS_URL: jwks.url, AUTH_CONNECT_TIMEOUT_MS: '200', AUTH_READ_TIMEOUT_MS: '200' }, logs.logger)
  await expectRefused(t, `${gw.ws}/ws`, bearer(await withKey(key, 'alice')), 'AUTH_UNAVAILABLE')
})

t.test('no token, ticket or secret reached a log line of this file', async (t) => {
  t.ok(logs.lines.length > 20, `${logs.lines.length} lines captured`)
  t.same(logs.leaks(), [], 'no leak')
})
