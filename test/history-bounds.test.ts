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

t.test('a group larger than one script call: every user\'s frames kept and published, in offset order, one group trimmed once', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, { HISTORY_SIZE: '4' })
  const r = redis(t)
  // 450 events over 150 users, 3 each, interleaved as a committed group arrives: more than one call's 200 events.
  const users = Array.from({ length: 150 }, (_, i) => `grp-${i}`)
  const events = [1, 2, 3].flatMap((seq) => users.map((userId) => ({ userId, seq, frame: `{"seq":${seq},"epoch":"e","u":"${userId}"}` })))
  const sub = r.duplicate()
  t.teardown(() => sub.disconnect())
  const heard = new Map<string, number[]>()
  sub.on('message', (channel: string, message: string) => {
    const list = heard.get(channel) ?? []
    list.push((JSON.parse(message) as { seq: number }).seq)
    heard.set(channel, list)
  })
  await sub.subscribe(...users.map((u) => gw.app.fanout.channelOf(u)))
  await gw.app.broker.publishEvents(events)
  // A PING on the same connection answers after every message published before it.
  await sub.ping()
  for (const u of users) {
    if (JSON.stringify(heard.get(gw.app.fanout.channelOf(u))) !== '[1,2,3]') t.fail(`${u} heard ${JSON.stringify(heard.get(gw.app.fanout.channelOf(u)))}`)
    if (JSON.stringify((await gw.app.broker.history(u, 1, 10)).map((f) => JSON.parse(f).seq)) !== '[1,2,3]') t.fail(`${u}'s history is wrong`)
  }
  t.equal([...heard.values()].reduce((n, l) => n + l.length, 0), 450, 'every event published once')
  // Republished as a relay would: nothing goes out twice, and what was missing does.
  await r.zremrangebyscore(historyKeys(iso.prefix, 'grp-7')[0], 2, 2)
  heard.clear()
  await gw.app.broker.publishEvents(events, true)
  await sub.ping()
  t.same([...heard.entries()], [[gw.app.fanout.channelOf('grp-7'), [2]]], 'ifMissing: only the offset missing from the history')
})
