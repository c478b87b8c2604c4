// The timer wheel behind liveness and expiry: never early, cancellable, far dates in rounds, bounded work per turn.
import t from 'tap'
import { TimerWheel, type WheelEntry } from '../src/plugins/app/fanout/timer-wheel.js'

interface Item { name: string, wheelEntry?: WheelEntry }

/** A wheel whose items are named: each name stands for one item object, made at its first use. */
function wheel (opts: { slots?: number, maxPerSlice?: number } = {}) {
  const clock = { at: 0, now () { return this.at } }
  const fired: string[] = []
  const items = new Map<string, Item>()
  const item = (name: string): Item => {
    let found = items.get(name)
    if (found === undefined) items.set(name, found = { name })
    return found
  }
  const real = new TimerWheel<Item>({ tickMs: 100, slots: opts.slots ?? 8, maxPerSlice: opts.maxPerSlice ?? 1000, sliceMs: 1000, clock, fire: (i) => fired.push(i.name), onError: (err) => { throw err } })
  const w = {
    schedule: (name: string, at: number) => real.schedule(item(name), at),
    cancel: (name: string) => real.cancel(item(name)),
    advance: (now?: number) => real.advance(now),
    get size () { return real.size }
  }
  return { w, fired, clock, item }
}

t.test('an item fires in the first tick at or after its due time, never before', async (t) => {
  const { w, fired } = wheel()
  w.schedule('a', 1050)
  await w.advance(1049)
  t.same(fired, [], 'not before its time')
  await w.advance(1099)
  t.same(fired, [], 'nor within the tick it falls in')
  await w.advance(1100)
  t.same(fired, ['a'], 'at the next tick boundary')
  t.equal(w.size, 0)
})

t.test('dates past one turn of the wheel wait for their round', async (t) => {
  const { w, fired } = wheel({ slots: 8 })
  w.schedule('far', 5000) // 50 ticks on an 8-slot wheel
  w.schedule('near', 300)
  await w.advance(4900)
  t.same(fired, ['near'])
  await w.advance(5000)
  t.same(fired, ['near', 'far'])
})

t.test('cancel and reschedule: one due time per item', async (t) => {
  const { w, fired } = wheel()
  w.schedule('moved', 200)
  w.schedule('moved', 700)
  w.schedule('gone', 200)
  w.cancel('gone')
  t.equal(w.size, 1)
  await w.advance(600)
  t.same(fired, [], 'neither the old date of the moved one nor the cancelled one')
  await w.advance(700)
  t.same(fired, ['moved'], 'the moved one once, at its new date')
})

t.test('an item holds its entry only while it is scheduled', async (t) => {
  const { w, item } = wheel()
  w.schedule('fires', 200)
  w.schedule('cancelled', 200)
  t.ok(item('fires').wheelEntry !== undefined && item('cancelled').wheelEntry !== undefined, 'both scheduled')
  t.equal(w.size, 2)
  w.cancel('cancelled')
  w.cancel('cancelled')
  t.equal(item('cancelled').wheelEntry, undefined, 'a cancelled item lets go of its entry')
  t.equal(w.size, 1, 'and a second cancel counts nothing')
  await w.advance(200)
  t.equal(item('fires').wheelEntry, undefined, 'a fired item too')
  t.equal(w.size, 0)
  w.schedule('fires', 400)
  t.equal(w.size, 1, 'and it can be scheduled again')
})

t.test('a thousand items due together fire in slices, with turns of the event loop between them', async (t) => {
  const { w, fired } = wheel({ maxPerSlice: 100 })
  for (let i = 0; i < 1000; i++) w.schedule(`s${i}`, 100)
  const state = { done: false }
  const run = w.advance(100).then(() => { state.done = true })
  const slices: number[] = [fired.length]
  while (!state.done) {
    await new Promise((resolve) => setImmediate(resolve))
    slices.push(fired.length - slices.reduce((a, b) => a + b, 0))
  }
  await run
  t.equal(fired.length, 1000, 'all fired')
  t.ok(slices.every((n) => n <= 100), `never more than 100 per turn (${slices.filter((n) => n > 0).length} turns)`)
  t.ok(slices.filter((n) => n > 0).length >= 10, 'spread over at least ten turns')
})

t.test('an advance asked for while one runs extends it; a clock far ahead of an empty wheel costs nothing', async (t) => {
  const { w, fired } = wheel({ maxPerSlice: 10 })
  for (let i = 0; i < 50; i++) w.schedule(`x${i}`, 100)
  w.schedule('later', 900)
  const first = w.advance(100)
  const second = w.advance(900)
  await Promise.all([first, second])
  t.equal(fired.length, 51, 'both ranges fired')
  t.equal(fired.at(-1), 'later')
  await w.advance(1e12)
  w.schedule('after the jump', 1e12 + 100)
  await w.advance(1e12 + 100)
  t.equal(fired.at(-1), 'after the jump')
})
