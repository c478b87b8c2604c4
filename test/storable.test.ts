// The storable check: exact paths and messages, an exact size count, and, against real PostgreSQL, never a value
// that jsonb would refuse let through.
import fc from 'fast-check'
import pg from 'pg'
import t from 'tap'
import { clip, MAX_DEPTH, MAX_EVENT_BYTES, storableProblem, storableText, textProblem } from '../src/events/storable.js'
import { PG_URL } from './helper.js'

const nest = (value: unknown, levels: number): unknown => {
  let out = value
  for (let i = 0; i < levels; i++) out = [out]
  return out
}

t.test('each problem is named with its path', async (t) => {
  t.equal(storableProblem({ a: 'fine', b: [1, true, null, { c: 'ok' }] }), undefined)
  t.same(storableProblem({ data: { note: 'a\u0000b' } }), { path: 'data.note', message: 'contains a NUL character' })
  t.same(storableProblem({ data: { note: 'x\ud800' } }), { path: 'data.note', message: 'contains a lone surrogate' })
  t.same(storableProblem({ data: { note: ['ok', '\udc00y'] } }), { path: 'data.note[1]', message: 'contains a lone surrogate' })
  t.same(storableProblem({ data: { 'k\u0000y': 1 } }), { path: 'data["k\\u0000y"]', message: 'is a key that contains a NUL character' })
  t.same(storableProblem({ data: { '\ud83d': 1 } }), { path: 'data["\\ud83d"]', message: 'is a key that contains a lone surrogate' })
  t.same(storableProblem({ 'odd key': { n: Infinity } }), { path: '["odd key"].n', message: 'must be a finite number' })
  t.same(storableProblem({ n: JSON.parse('-1e400') as number }), { path: 'n', message: 'must be a finite number' })
  t.same(storableProblem({ n: NaN }), { path: 'n', message: 'must be a finite number' })
  t.same(storableProblem({ n: 10n }), { path: 'n', message: 'is not a JSON value' })
  t.equal(storableProblem({ emoji: '😀 — ü' }), undefined, 'a surrogate pair is well-formed')
})

t.test('nesting: the event is the first level; one level more than the limit is refused where it starts', async (t) => {
  t.equal(storableProblem(nest(1, MAX_DEPTH)), undefined, `${MAX_DEPTH} levels`)
  const problem = storableProblem(nest(1, MAX_DEPTH + 1))
  t.equal(problem?.message, `nests deeper than ${MAX_DEPTH} levels`)
  t.equal(problem?.path, '[0]'.repeat(MAX_DEPTH))
  const deep = JSON.parse(`{"data":${'['.repeat(10_000)}${']'.repeat(10_000)}}`) as unknown
  t.match(storableProblem(deep), { message: /nests deeper/ }, '10,000 levels stop at the limit, without a deep recursion')
  const cycle: Record<string, unknown> = {}
  cycle.self = cycle
  t.match(storableProblem(cycle), { message: /nests deeper/ }, 'a cycle is refused, not followed forever')
})

t.test('size: the JSON text in UTF-8 bytes', async (t) => {
  t.equal(storableProblem({ s: 'x'.repeat(MAX_EVENT_BYTES - 10) }), undefined)
  t.same(storableProblem({ s: 'x'.repeat(MAX_EVENT_BYTES) }), { path: '', message: `is larger than ${MAX_EVENT_BYTES} bytes as JSON` })
  t.same(storableProblem({ s: 'é'.repeat(MAX_EVENT_BYTES / 2) }), { path: '', message: `is larger than ${MAX_EVENT_BYTES} bytes as JSON` }, 'two bytes a character')

  const escapes = Math.floor((MAX_EVENT_BYTES - '{"s":""}'.length) / 6)
  t.equal(storableProblem({ s: '\u0001'.repeat(escapes) }), undefined, 'escapes count: six bytes each, just under')
  t.match(storableProblem({ s: '\u0001'.repeat(escapes + 1) }), { message: /is larger than/ }, 'and just over')

  // The limit falls exactly at the size of the JSON text, escapes and all.
  const unit = fc.oneof(fc.constantFrom('"', '\\', '\n', '\u0001', '😀'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }))
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 5, stringUnit: unit }), (value) => {
    const size = Buffer.byteLength(JSON.stringify(value))
    return storableProblem(value, { maxBytes: size, maxDepth: 10 }) === undefined &&
      storableProblem(value, { maxBytes: size - 1, maxDepth: 10 })?.message === `is larger than ${size - 1} bytes as JSON`
  }), { numRuns: 300 })
  t.pass('300 generated values: the limit falls exactly at their size')
})

t.test('storableText and clip make any text storable without losing what was storable', async (t) => {
  t.equal(storableText('a\ud800b\u0000c'), 'a\ufffdbc')
  t.equal(clip('ab😀', 3), 'ab', 'a pair is not cut in two')
  t.equal(clip('ab😀', 4), 'ab😀')
  const anyUnit = fc.oneof(fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '😀'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }))
  fc.assert(fc.property(fc.string({ unit: anyUnit, maxLength: 20 }), fc.nat(30), (text, max) => {
    const safe = storableText(text)
    if (textProblem(safe) !== undefined) return false
    if (textProblem(text) === undefined && safe !== text) return false
    const clipped = clip(safe, max)
    return clipped.length <= max && safe.startsWith(clipped) && textProblem(clipped) === undefined
  }), { numRuns: 500 })
  t.pass('500 generated texts made storable')
})

t.test('what the check lets through, PostgreSQL jsonb stores; the text it refuses, jsonb refuses too', async (t) => {
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  t.teardown(() => client.end())
  const unit = fc.oneof(fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '"', '\\', '\n'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }))
  const text = fc.string({ unit, maxLength: 6 })
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, text, fc.double(), fc.integer(), fc.boolean(), fc.constant(null),
      fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(text, tie('value'), { maxKeys: 3 }))
  }))
  let refused = 0
  await fc.assert(fc.asyncProperty(value, fc.integer({ min: 0, max: 40 }), async (inner, levels) => {
    const candidate = { data: nest(inner, levels) }
    const problem = storableProblem(candidate)
    const stored = await client.query('SELECT $1::jsonb AS v', [JSON.stringify(candidate)]).then(() => true, () => false)
    if (problem === undefined) return stored
    if (/NUL|surrogate/.test(problem.message)) {
      refused++
      return !stored
    }
    return true
  }), { numRuns: 400 })
  t.ok(refused > 0, `${refused} generated values had text that both refused`)
})
