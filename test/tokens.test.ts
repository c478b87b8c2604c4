// Token extraction and subprotocol negotiation, as the platform's clients send them.
import t from 'tap'
import { extractToken, negotiateProtocol, tokenFromSuffix } from '../src/protocol/tokens.js'

const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ'

t.test('where the token is found, in order', async (t) => {
  t.same(extractToken({ authorization: `Bearer ${jwt}`, 'sec-websocket-protocol': 'jwt.other.token.here' }, { token: 'q' }), { token: jwt, via: 'header' })
  t.same(extractToken({ 'sec-websocket-protocol': `jwt-auth, jwt.${Buffer.from(jwt).toString('base64url')}` }, {}), { token: jwt, via: 'subprotocol' })
  t.same(extractToken({ 'sec-websocket-protocol': `bearer.${jwt}` }, {}), { token: jwt, via: 'subprotocol' })
  t.same(extractToken({}, { token: jwt }), { token: jwt, via: 'query' })
  t.equal(extractToken({ authorization: 'Basic abc' }, {}), undefined)
  t.equal(extractToken({ 'sec-websocket-protocol': 'jwt.short' }, {}), undefined, 'suffixes under 10 characters are ignored')
})

t.test('base64url with or without padding, else raw', async (t) => {
  const b64 = Buffer.from(jwt).toString('base64')
  t.equal(tokenFromSuffix(Buffer.from(jwt).toString('base64url')), jwt)
  t.equal(tokenFromSuffix(b64.replace(/\+/g, '-').replace(/\//g, '_')), jwt)
  t.equal(tokenFromSuffix(jwt), jwt)
  t.equal(tokenFromSuffix('not-a-token-at-all'), undefined)
})

t.test('the echoed subprotocol', async (t) => {
  const b64 = `jwt.${Buffer.from(jwt).toString('base64url')}`
  t.equal(negotiateProtocol(new Set(['jwt-auth', b64])), b64, 'token-bearing entry, exactly as sent')
  t.equal(negotiateProtocol(new Set([`bearer.${jwt}`, b64])), b64, 'jwt. before bearer.')
  t.equal(negotiateProtocol(new Set(['agent_chat'])), 'agent_chat', 'a known bare name')
  t.equal(negotiateProtocol(new Set(['mqtt'])), false, 'nothing supported')
})
