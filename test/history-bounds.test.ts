// The hot history in Redis is bounded by count, and kept HISTORY_TTL_S after the user's last event.
import t from 'tap'
import { historyKey } from '../src/plugins/app/fanout/broker.js'
import { createMemoryBroker } from '../src/plugins/app/fanout/memory-broker.js'
import { build, isolate, redis, TestClock } from './helper.js'

t.test('the hot history keeps at most HISTORY_SIZE frames, and lives HISTORY_TTL_S after the last event', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, { HISTORY_SIZE: '3', HISTORY_TTL_S: '60' })
  const r = redis(t)
  const frames = historyKey(iso.prefix, 'bounded')
  const frame = (seq: number): string => `{"seq":${seq},"epoch":"e","type":"agent_thinking"}`
  for (let seq = 1; seq <= 5; seq++) await gw.app.broker.publishEvents([{ userId: 'bounded', seq, frame: frame(seq) }])
  t.same((await gw.app.broker.history('bounded', 1, 10)).map((f) => JSON.parse(f).seq), [3, 4, 5], 'the last 3 by count')
  t.equal(await r.llen(frames), 3, 'nothing beyond the count is kept')
  // The key's life is the subject: shortened by hand, then renewed in full by the next event.
  await r.pexpire(frames, 500)
  await gw.app.broker.publishEvents([{ userId: 'bounded', seq: 6, frame: frame(6) }])
  const ttl = await r.pttl(frames)
  t.ok(ttl > 59_000 && ttl <= 60_000, `each event renews the history's life to HISTORY_TTL_S (${ttl} ms)`)
  t.same((await gw.app.broker.history('bounded', 1, 10)).map((f) => JSON.parse(f).seq), [4, 5, 6])
  t.same(await r.keys(`${iso.prefix}*{bounded}*`), [frames], 'one key per user: the list (no sorted set of earlier versions, no arrival times)')
})

t.test('a larger history is trimmed a 32nd at a time: between HISTORY_SIZE - step + 1 and HISTORY_SIZE frames, the latest', async (t) => {
  const iso = isolate(t)
  // 320 frames: a step of 10, so a trim runs when the list outgrows 320 and leaves 311.
  const gw = await build(t, iso, { HISTORY_SIZE: '320' })
  const r = redis(t)
  const frames = historyKey(iso.prefix, 'stepped')
  const counts = new Set<number>()
  for (let seq = 1; seq <= 400; seq++) {
    await gw.app.broker.publishEvents([{ userId: 'stepped', seq, frame: `{"seq":${seq},"epoch":"e"}` }])
    if (seq > 320) counts.add(await r.llen(frames))
  }
  t.same([...counts].sort((a, b) => a - b), [311, 312, 313, 314, 315, 316, 317, 318, 319, 320], 'never more than HISTORY_SIZE, never fewer than HISTORY_SIZE - 9')
  const kept = (await gw.app.broker.history('stepped', 1, 400)).map((f) => JSON.parse(f).seq as number)
  t.same(kept, Array.from({ length: kept.length }, (_, i) => 401 - kept.length + i), 'the latest offsets, contiguous')
  // A group of 50 for the user: trimmed once, to the same bound.
  await gw.app.broker.publishEvents(Array.from({ length: 50 }, (_, i) => ({ userId: 'stepped', seq: 401 + i, frame: `{"seq":${401 + i},"epoch":"e"}` })))
  t.equal(await r.llen(frames), 311, 'a call past HISTORY_SIZE leaves HISTORY_SIZE - step + 1')
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
  await r.rpop(historyKey(iso.prefix, 'grp-7'))
  heard.clear()
  await gw.app.broker.publishEvents(events, true)
  await sub.ping()
  t.same([...heard.entries()], [[gw.app.fanout.channelOf('grp-7'), [3]]], 'ifMissing: only the offset missing from the history')
  t.same((await gw.app.broker.history('grp-7', 1, 10)).map((f) => JSON.parse(f).seq), [1, 2, 3], 'and it is back in the history')
})

t.test('the Redis history is a contiguous run of one epoch: groups that cross in flight, gaps, relays and a new epoch', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, { HISTORY_SIZE: '3000' })
  const r = redis(t)
  const sub = r.duplicate()
  t.teardown(() => sub.disconnect())
  const heard: number[] = []
  sub.on('message', (_channel: string, message: string) => heard.push((JSON.parse(message) as { seq: number }).seq))
  await sub.subscribe(gw.app.fanout.channelOf('run'))
  const ev = (seq: number, epoch = 'e'): { userId: string, seq: number, frame: string } => ({ userId: 'run', seq, frame: `{"seq":${seq},"epoch":"${epoch}","n":${seq}}` })
  const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)
  const kept = async (): Promise<number[]> => (await gw.app.broker.history('run', 1, 10_000)).map((f) => JSON.parse(f).seq as number)
  const publish = async (seqs: number[], ifMissing = false, epoch = 'e'): Promise<number[]> => {
    heard.length = 0
    await gw.app.broker.publishEvents(seqs.map((s) => ev(s, epoch)), ifMissing)
    await sub.ping()
    return [...heard]
  }
  // One user's first group larger than a Lua unpack allows in one call.
  t.same(await publish(range(1, 2500)), range(1, 2500), 'a first group of 2,500 is published in order')
  t.same(await kept(), range(1, 2500), 'and kept whole')
  t.same(await publish(range(2501, 2509)), range(2501, 2509))
  // Another instance's later group arrives first: a new run starts at it; the earlier group, arriving next, is prepended.
  t.same(await publish(range(2513, 2515)), range(2513, 2515), 'a group past a gap is published')
  t.same(await kept(), range(2513, 2515), 'and starts a new run (the older offsets are the log\'s to serve)')
  t.same(await publish(range(2510, 2512)), range(2510, 2512), 'the group that crossed it in flight is published')
  t.same(await kept(), range(2510, 2515), 'and prepended: the run is contiguous again')
  t.same((await gw.app.broker.history('run', 2512, 2514)).map((f) => JSON.parse(f).seq), [2512, 2513, 2514], 'a range is read by index from the head')
  t.same((await gw.app.broker.history('run', 2000, 2511)).map((f) => JSON.parse(f).seq), [2510, 2511], 'a range that starts before the run gets its newer part only')
  // An offset older than the run, not next to it: published, left to the log.
  t.same(await publish([2500]), [2500])
  t.same(await kept(), range(2510, 2515), 'an older offset does not break the run')
  // Relays: what the run holds is not published again; what is next to it is, and joins it.
  t.same(await publish([2509, 2510, 2511, 2515, 2516], true), [2509, 2516], 'ifMissing publishes only offsets the run lacks')
  t.same(await kept(), range(2509, 2516), 'and files those next to it')
  // A late first publish of an offset a relay already filed is published (the cursor drops a repeat), not filed twice.
  t.same(await publish([2516]), [2516])
  t.same(await kept(), range(2509, 2516), 'an offset is filed once')
  // A group given out of order is never written as it came: the run stays contiguous, each frame at its offset's index.
  t.same(await publish([2518, 2520, 2519, 2521]), [2518, 2520, 2519, 2521], 'published in the order given')
  t.same(await kept(), range(2519, 2521), 'the run is contiguous (2518, before a gap, is the log\'s)')
  t.same((await gw.app.broker.history('run', 2520, 2520)).map((f) => JSON.parse(f).seq), [2520], 'read by index, the right frame')
  // The stream's epoch changed (a new database): the old epoch's run is replaced, not mixed.
  t.same(await publish([1, 2], false, 'f'), [1, 2])
  t.same((await gw.app.broker.history('run', 1, 10)).map((f) => JSON.parse(f).epoch), ['f', 'f'], 'a new epoch starts a new run')
})

t.test('the in-process broker keeps the same bounds: count, and HISTORY_TTL_S after the last event', async (t) => {
  const clock = new TestClock(true)
  const broker = createMemoryBroker(() => undefined, 't:', { size: 3, ttlMs: 60_000 }, clock)
  const frame = (seq: number): string => `{"seq":${seq}}`
  for (let seq = 1; seq <= 5; seq++) await broker.publishEvents([{ userId: 'u', seq, frame: frame(seq) }])
  t.same(await broker.history('u', 1, 10), [frame(3), frame(4), frame(5)], 'the last 3 by count')
  clock.advance(59_999)
  await broker.publishEvents([{ userId: 'u', seq: 6, frame: frame(6) }])
  clock.advance(59_999)
  t.same(await broker.history('u', 1, 10), [frame(4), frame(5), frame(6)], 'frames older than the TTL stay while the user is active')
  clock.advance(1)
  t.same(await broker.history('u', 1, 10), [], 'HISTORY_TTL_S after the last event the history is gone')
})
