// The linger that connects share (src/linger.ts): calls close together leave as one batch, and a failure stays its own call's.
import t from 'tap'
import { lingering } from '../src/linger.js'

t.test('a batch calls each key once in one tick; one key failing fails only its own call', async (t) => {
  const ticks: string[][] = []
  let current: string[] | undefined
  const get = lingering(async (key: string) => {
    if (current === undefined) {
      current = []
      ticks.push(current)
      queueMicrotask(() => { current = undefined })
    }
    current.push(key)
    if (key === 'bad') throw new Error(`no ${key}`)
    if (key === 'odd') throw 'not an Error' // eslint-disable-line no-throw-literal
    return key.toUpperCase()
  })
  const results = await Promise.allSettled(['a', 'bad', 'odd', 'c'].map(get))
  t.same(ticks, [['a', 'bad', 'odd', 'c']], 'one batch, each key called in the same tick')
  t.match(results, [
    { status: 'fulfilled', value: 'A' },
    { status: 'rejected', reason: { message: 'no bad' } },
    { status: 'rejected', reason: { message: 'not an Error' } },
    { status: 'fulfilled', value: 'C' }
  ])
})
