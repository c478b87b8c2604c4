// The hot history in Redis is bounded by count, and kept HISTORY_TTL_S after the user's last event.
import t from 'tap'
import { historyKey } from '../src/plugins/app/fanout/broker.js'
import { createMemoryBroker } from '../src/plugins/app/fanout/memory-broker.js'
import { build, isolate, redis, TestClock } from './helper.js'

t.test('the hot history keeps at most HISTORY_SIZE frames, and lives HISTORY_TTL_S after the last event', async (t) => {
  const iso = isolate(t)
  const clock = new TestClock(true)
  const gw = await build(t, iso, { HISTORY_SIZE: '3', HISTORY_TTL_S: '80' }, undefined, { clock })
  const r = redis(t)
  const frames = historyKey(iso.prefix, 'bounded')
  const frame = (seq: number): string => `{"seq":${seq},"epoch":"e","type":"agent_thinking"}`
  for (let seq = 1; seq <= 5; seq++) await gw.app.broker.publishEvents([{ userId: 'bounded', seq, frame: frame(seq) }])
  t.same((await gw.app.broker.history('bounded', 1, 10)).map((f) => JSON.parse(f).seq), [3, 4, 5], 'the last 3 by count')
  t.equal(await r.llen(frames), 3, 'nothing beyond the count is kept')
  const ttl = async (): Promise<number> => await r.pttl(frames)
  t.ok(await ttl() > 79_000, 'the first event gives the key HISTORY_TTL_S')
  // The key's life is the subject: shortened by hand. Within an eighth of the TTL an event does not renew it...
  await r.pexpire(frames, 60_000)
  clock.advance(9_999)
  await gw.app.broker.publishEvents([{ userId: 'bounded', seq: 6, frame: frame(6) }])
  t.ok(await ttl() <= 60_000, 'an event within an eighth of the TTL of the last renewal leaves the life as it is')
  // ...past it, the next event renews it in full: the history lives between 7/8 of HISTORY_TTL_S and all of it.
  clock.advance(1)
  await gw.app.broker.publishEvents([{ userId: 'bounded', seq: 7, frame: frame(7) }])
  const renewed = await ttl()
  t.ok(renewed > 79_000 && renewed <= 80_000, `renewed to HISTORY_TTL_S (${renewed} ms)`)
  t.same((await gw.app.broker.history('bounded', 1, 10)).map((f) => JSON.parse(f).seq), [5, 6, 7])
  // A key that went away (Redis lost it) comes back with a life, whatever the renewal's schedule says.
  await r.del(frames)
  await gw.app.broker.publishEvents([{ userId: 'bounded', seq: 8, frame: frame(8) }])
  t.ok(await ttl() > 79_000, 'a key created by an append gets HISTORY_TTL_S')
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

t.test('a group of many users: every user\'s frames kept and published, in offset order', async (t) => {
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
  // What reaches the command connection's socket: one write for the group's 600 commands (a corked write, not a
  // pipeline of ioredis's, whose commands outlived their replies and filled the old generation).
  const stream = (gw.app.redis!.command as unknown as { stream: Record<'_write' | '_writev', (...args: unknown[]) => void> }).stream
  const writes = { single: 0, vectored: 0 }
  const [write, writev] = [stream._write, stream._writev]
  // Writes that carry the group's frames (the users are named in them); the instance's other commands may pass too.
  const ours = (chunk: unknown): boolean => String(chunk).includes('grp-')
  stream._write = function (this: unknown, ...args: unknown[]) { if (ours(args[0])) writes.single++; write.apply(this, args) }
  stream._writev = function (this: unknown, ...args: unknown[]) {
    if ((args[0] as Array<{ chunk: unknown }>).some((c) => ours(c.chunk))) writes.vectored++
    writev.apply(this, args)
  }
  // Other work of the instance (its stream reader's lease, say) may use a pipeline meanwhile: only ours count.
  const pipelines = gw.app.redis!.command.pipeline
  const made: Array<{ _queue: Array<{ name: string }> }> = []
  gw.app.redis!.command.pipeline = function (this: unknown, ...args: unknown[]) {
    const pipeline = pipelines.apply(this, args as [])
    made.push(pipeline as unknown as (typeof made)[number])
    return pipeline
  } as typeof pipelines
  t.teardown(() => { Object.assign(stream, { _write: write, _writev: writev }); gw.app.redis!.command.pipeline = pipelines })
  await gw.app.broker.publishEvents(events)
  const piped = made.flatMap((p) => p._queue.map((c) => c.name)).filter((name) => name === 'rpush' || name === 'publish').length
  t.same({ ...writes, piped }, { single: 0, vectored: 1, piped: 0 }, 'the group left in one write, through no pipeline')
  // A PING on the same connection answers after every message published before it.
  await sub.ping()
  for (const u of users) {
    if (JSON.stringify(heard.get(gw.app.fanout.channelOf(u))) !== '[1,2,3]') t.fail(`${u} heard ${JSON.stringify(heard.get(gw.app.fanout.channelOf(u)))}`)
    if (JSON.stringify((await gw.app.broker.history(u, 1, 10)).map((f) => JSON.parse(f).seq)) !== '[1,2,3]') t.fail(`${u}'s history is wrong`)
  }
  t.equal([...heard.values()].reduce((n, l) => n + l.length, 0), 450, 'every event published once')
  // Republished as a relay would: published again, for the cursors to drop what they have; the history is not doubled.
  heard.clear()
  await gw.app.broker.publishEvents(events, true)
  await sub.ping()
  t.equal([...heard.values()].reduce((n, l) => n + l.length, 0), 450, 'ifMissing: every event published again')
  t.equal(await r.llen(historyKey(iso.prefix, 'grp-7')), 3, 'and not appended again')
})

t.test('the Redis history is read checked: groups that cross in flight, gaps, relays, duplicates and a new epoch', async (t) => {
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
  const read = async (from: number, to: number): Promise<number[]> => (await gw.app.broker.history('run', from, to)).map((f) => JSON.parse(f).seq as number)
  const publish = async (seqs: number[], ifMissing = false, epoch = 'e'): Promise<number[]> => {
    heard.length = 0
    await gw.app.broker.publishEvents(seqs.map((s) => ev(s, epoch)), ifMissing)
    await sub.ping()
    return [...heard]
  }
  t.same(await publish(range(1, 2500)), range(1, 2500), 'a first group of 2,500 is published in order')
  t.same(await read(1, 2500), range(1, 2500), 'and kept whole')
  t.same(await read(1000, 1010), range(1000, 1010), 'a range inside it is read by index')
  t.same(await publish(range(2501, 2509)), range(2501, 2509))
  // Another instance's later group arrives first; the earlier one, arriving next, lands after it in the list.
  t.same(await publish(range(2513, 2515)), range(2513, 2515), 'a group past a gap is published')
  t.same(await read(2509, 2515), [2509, 2513, 2514, 2515], 'a range across the gap has what is there (the rest is the log\'s)')
  t.same(await publish(range(2510, 2512)), range(2510, 2512), 'the group that crossed it in flight is published')
  t.same(await read(2505, 2515), range(2505, 2515), 'the crossed groups are read in offset order')
  t.same(await read(2512, 2514), [2512, 2513, 2514], 'and any range across them')
  t.same(await read(2514, 2520), [2514, 2515], 'a range past the newest offset gets what exists')
  t.same(await read(2514, 2_000_000_000), [2514, 2515], 'however far past it: the work is bounded by the list, not by the range')
  t.same(await read(2000, 2011), range(2000, 2011), 'older ranges are still read by index')
  // Relays and duplicates: published again, not appended again; a range is never read with an offset twice.
  t.same(await publish([2509, 2510, 2516], true), [2509, 2510, 2516], 'ifMissing publishes (the cursors drop repeats)')
  t.same(await read(2514, 2516), [2514, 2515], 'a relayed offset is not appended: the log serves it')
  t.same(await publish([2516]), [2516], 'its first publish, late, appends it')
  t.same(await publish([2516]), [2516])
  t.same(await read(2510, 2516), range(2510, 2516), 'an offset appended twice is read once')
  // A group given out of order is published as given and appended in offset order.
  t.same(await publish([2518, 2520, 2517, 2519]), [2518, 2520, 2517, 2519], 'published in the order given')
  t.same(await read(2515, 2520), range(2515, 2520), 'and read in offset order, by index')
  // A range older than the list has its newer part only.
  await r.ltrim(historyKey(iso.prefix, 'run'), -4, -1)
  t.same(await read(2000, 2519), [2517, 2518, 2519], 'a range that starts before the list gets its newer part only')
  // The stream's epoch changed (a new database): the newest epoch's frames are read, never the old one's.
  t.same(await publish([1, 2], false, 'f'), [1, 2])
  t.same((await gw.app.broker.history('run', 1, 10)).map((f) => JSON.parse(f).epoch), ['f', 'f'], 'the new epoch\'s frames only')
  t.same(await read(2515, 2520), [], 'and none of the old epoch\'s')
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
