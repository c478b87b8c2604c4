// Fuzzing with fast-check: generated frames, ingest bodies and headers never crash the gateway, never touch another
// user, and each gets a documented answer.
import fc from 'fast-check'
import t from 'tap'
import WebSocket from 'ws'
import { build, Client, ctx, goldenRun, ingest, isolate, SERVICE } from './helper.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 150)
const DOCUMENTED_WS = new Set(['error_message', 'error', 'ack', 'pong', 'heartbeat_ack', 'thread_data', 'thread_history', 'agent_stopped', 'resume_failed'])
const DOCUMENTED_CODES = new Set(['JSON_PARSE_ERROR', 'INVALID_MESSAGE', 'INTERNAL_ERROR'])

/** Values with the shapes that break parsers: prototype keys, deep nesting, wrong types, odd strings. */
const nasty = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' },
    fc.string(), fc.string({ unit: 'grapheme' }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
    fc.constantFrom('__proto__', 'constructor', 'prototype', '', ' ', 'null', 'undefined', 'placeholder', 'mock_x'),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'type', 'payload', 'data', 'thread_id', 'run_id', 'user_id')), tie('value'), { maxKeys: 5 }))
})).value
const frameType = fc.constantFrom('user_message', 'chat_message', 'start_agent', 'stop_agent', 'switch_thread', 'get_thread_history', 'ping', 'heartbeat', 'resume', 'auth_refresh', '__proto__', 'constructor', '')
const frame = fc.oneof(
  fc.record({ type: frameType, payload: nasty, data: nasty, thread_id: nasty, run_id: nasty, since: nasty, epoch: nasty }, { requiredKeys: ['type'] }).map((f) => JSON.stringify(f)),
  nasty.map((v) => JSON.stringify(v)),
  fc.string().map((s) => `{"type":"user_message","payload":${s}}`),
  fc.constant(`${'['.repeat(5000)}${']'.repeat(5000)}`),
  fc.constant('{"__proto__":{"type":"ping","polluted":true},"constructor":{"prototype":{"x":1}}}'),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b))
)

t.test('fuzzed WebSocket frames', async (t) => {
  // The fuzzer sends as fast as it can: the message rate limit (tested in limits.test.ts) would drop its pings.
  const gw = await build(t, isolate(t), { WS_MAX_PAYLOAD: '16384', WS_MESSAGE_RATE: '100000', WS_MESSAGE_BURST: '100000' })
  const victim = await Client.as(gw.ws, 'fuzz-victim')
  const attacker = await Client.as(gw.ws, 'fuzz-attacker')
  let tried = 0
  let oversized = 0
  await fc.assert(fc.asyncProperty(frame, fc.boolean(), async (data, binary) => {
    tried++
    const before = attacker.frames.length
    attacker.socket.send(data, { binary: binary || Buffer.isBuffer(data) })
    // Every frame is answered (or, for pong-like frames, ignored): a ping after it proves the socket still serves.
    attacker.send({ type: 'ping' })
    const answered = await attacker.next((f) => attacker.frames.indexOf(f) >= before && f.type === 'pong')
    for (const f of attacker.frames.slice(before)) {
      if (!DOCUMENTED_WS.has(f.type)) throw new Error(`undocumented answer ${f.type} to ${String(data).slice(0, 80)}`)
      if (f.type === 'error_message' && !DOCUMENTED_CODES.has(String(f.error_code))) throw new Error(`undocumented error_code ${String(f.error_code)}`)
    }
    return answered.type === 'pong'
  }), { numRuns: RUNS })

  // Oversized frames are refused with 1009 and only close the sender.
  const big = await Client.as(gw.ws, 'fuzz-big')
  big.socket.send('x'.repeat(20_000))
  t.equal((await big.closed).code, 1009, 'a frame over WS_MAX_PAYLOAD closes with 1009')
  oversized++
  // A text frame that is not UTF-8 is a protocol error (1007), for the sender only.
  const garbled = await Client.as(gw.ws, 'fuzz-garbled')
  garbled.socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false })
  t.equal((await garbled.closed).code, 1007, 'invalid UTF-8 in a text frame closes with 1007')

  const res = await ingest(gw.http, goldenRun(ctx('fuzz-victim'))[0])
  t.equal(res.status, 202)
  await victim.next('agent_started')
  t.equal(victim.frames.filter((f) => f.type !== 'connection_established' && f.type !== 'agent_started').length, 0, 'the other user saw nothing of the fuzzing')
  t.equal(attacker.socket.readyState, WebSocket.OPEN, 'the attacker\'s socket is still open')
  t.pass(`tried ${tried} generated frames and ${oversized} oversized one`)
  await Promise.all([victim.close(), attacker.close()])
})

t.test('fuzzed ingest bodies and headers', async (t) => {
  const gw = await build(t, isolate(t))
  const victim = await Client.as(gw.ws, 'ingest-victim')
  const headers = fc.record({
    'content-type': fc.oneof({ arbitrary: fc.constant('application/json'), weight: 6 }, { arbitrary: fc.constantFrom('text/plain', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded', ''), weight: 1 }),
    // Mostly valid credentials, so that most bodies reach validation.
    'x-service-id': fc.oneof({ arbitrary: fc.constant(SERVICE.id), weight: 6 }, { arbitrary: fc.string(), weight: 1 }),
    'x-service-secret': fc.oneof({ arbitrary: fc.constant(SERVICE.secret), weight: 6 }, { arbitrary: fc.string(), weight: 1 }, { arbitrary: fc.constant(SERVICE.secret.toUpperCase()), weight: 1 })
  })
  const body = fc.oneof(
    nasty.map((v) => JSON.stringify(v)),
    fc.record({ type: fc.constantFrom('agent_started', 'agent_thinking', 'tool_completed', 'agent_error'), context: fc.oneof(nasty, fc.constant(ctx('ingest-victim'))), reasoning: nasty, results: nasty, duration: nasty, error: nasty, event_id: nasty }).map((v) => JSON.stringify(v)),
    fc.array(nasty, { maxLength: 5 }).map((events) => JSON.stringify({ events })),
    fc.string(),
    fc.constant(`{"events":${'['.repeat(3000)}${']'.repeat(3000)}}`)
  )
  const counts: Record<number, number> = {}
  let tried = 0
  await fc.assert(fc.asyncProperty(headers, body, async (h, b) => {
    tried++
    const clean = Object.fromEntries(Object.entries(h).filter(([, v]) => /^[\x20-\x7e]*$/.test(v) && v !== ''))
    const res = await fetch(`${gw.http}/api/v1/events`, { method: 'POST', headers: clean, body: b })
    counts[res.status] = (counts[res.status] ?? 0) + 1
    const reply = await res.json() as { code?: string, message?: string }
    if (res.status >= 500) throw new Error(`${res.status} for ${b.slice(0, 100)}`)
    if (res.status !== 202 && (typeof reply.code !== 'string' || typeof reply.message !== 'string')) throw new Error(`no code/message for ${res.status}`)
    return true
  }), { numRuns: RUNS })
  t.pass(`tried ${tried} generated requests: ${JSON.stringify(counts)}`)
  t.notOk(victim.frames.some((f) => f.user_id !== undefined && f.user_id !== 'ingest-victim'), 'no other user\'s event reached the socket')
  t.equal((await fetch(`${gw.http}/health`)).status, 200, 'still alive')
  await victim.close()
})
