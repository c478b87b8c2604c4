// The hot history in Redis is bounded by count and by age, as HISTORY_SIZE and HISTORY_TTL_S say.
import t from 'tap'
import { historyKeys } from '../src/plugins/app/fanout/broker.js'
import { build, isolate, redis } from './helper.js'

t.test('the hot history keeps at most HISTORY_SIZE frames, none older than HISTORY_TTL_S', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, { HISTORY_SIZE: '3', HISTORY_TTL_S: '1' })
  const r = redis(t)
  const [frames, ages] = historyKeys(iso.prefix, 'bounded')
  const frame = (seq: number): string => `{"seq":${seq},"epoch":"e","type":"agent_thinking"}`
  for (let seq = 1; seq <= 5; seq++) await gw.app.broker.publishEvents([{ userId: 'bounded', seq, frame: frame(seq) }])
  t.same((await gw.app.broker.history('bounded', 1, 10)).map((f) => JSON.parse(f).seq), [3, 4, 5], 'the last 3 by count')
  t.equal(await r.zcard(ages), 3, 'the age index is bounded too')

  // Age is the subject here: rather than wait past it, the frames are made 1.1 s older where the broker keeps their
  // publication times (the age index); one more publication then trims what has aged out.
  const stamped = await r.zrange(ages, 0, -1, 'WITHSCORES')
  for (let i = 0; i < stamped.length; i += 2) await r.zadd(ages, 'XX', Number(stamped[i + 1]) - 1100, stamped[i]!)
  await gw.app.broker.publishEvents([{ userId: 'bounded', seq: 6, frame: frame(6) }])
  t.same((await gw.app.broker.history('bounded', 1, 10)).map((f) => JSON.parse(f).seq), [6], 'frames older than 1 s are gone')
  t.equal(await r.zcard(ages), 1)
  t.ok(await r.pttl(frames) <= 1000, 'an idle user\'s history expires with the age limit')
})
