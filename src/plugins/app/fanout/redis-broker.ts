// Redis broker: a user's events are RPUSHed to their hot history and PUBLISHed as plain commands; SUBSCRIBE per user channel.
import DataLoader from 'dataloader'
import type { Clock } from '../../../clock.js'
import { systemClock } from '../../../clock.js'
import { lingerSchedule } from '../../../linger.js'
import { corked, type RedisClient, type RedisConnections } from '../../external/redis.js'
import type { Broker, BrokerMessageHandler, HistoryLimits, PublishedFrame } from './broker.js'
import { historyKey, userChannel } from './broker.js'

// The hot history is a list of the user's latest frames, appended as they are published: RPUSH, then a PUBLISH per
// frame, plain commands written together in one corked write (`corked`, external/redis.ts). A Lua script that checked the tail
// before each append kept the list a contiguous run, but cost Redis three times the commands it ran (its arguments
// converted to Lua strings and back, a call per command): 11 to 12 µs per event against 4 to 5 for the commands
// alone, in a stand-alone bench of 5,000 users. Without it the list is contiguous in the common case (one
// instance's groups for a user, in offset order) and may not be in the rare ones (two instances' groups crossing in
// flight, a new epoch), so the reading side checks what it reads: every frame's offset and epoch. The key carries the
// user's hash tag: on Redis Cluster the commands go to the user's node.
//
// The history lives HISTORY_TTL_S after the user's last event, as Centrifugo's does, give or take an eighth: each
// instance renews a user's key when it creates it and then at most every eighth of the TTL (a PEXPIRE per event
// cost a third of the append). A trim runs when the list outgrows HISTORY_SIZE and leaves the last `keep`.

/** Renewals: at most one per user and instance per this share of the TTL. */
const RENEW_SHARE = 8

/**
 * Frames from..to of one user, ascending and each once, checked (KEYS: the list; ARGV: from, to). The frames are
 * looked for by index from the tail, where the list is contiguous (one LRANGE, every frame's offset and epoch
 * checked); if that does not hold, the frames of the tail's epoch in the range are picked out of the last
 * (to - from + 1 + SLACK) entries, where groups that crossed in flight sit. Whatever is not found is the log's.
 */
const SLACK = 64
const HISTORY_RANGE = `
local function parse (frame) local s, e = string.match(frame, '^{"seq":(%d+),"epoch":"([^"]*)"') return tonumber(s), e end
local key = KEYS[1]
local n = redis.call('LLEN', key)
if n == 0 then return {} end
local t, epoch = parse(redis.call('LINDEX', key, -1))
if not t then return {} end
local from, to = tonumber(ARGV[1]), tonumber(ARGV[2])
if to <= t then
  local first = math.max(from, t - n + 1)
  if first > to then return {} end
  local frames = redis.call('LRANGE', key, n - 1 - (t - first), n - 1 - (t - to))
  local ok = #frames == to - first + 1
  for i = 1, #frames do
    if not ok then break end
    local s, e = parse(frames[i])
    ok = s == first + i - 1 and e == epoch
  end
  if ok then return frames end
end
local window = math.min(n, math.max(t, to) - from + 1 + ${SLACK})
local found, seqs = {}, {}
for _, frame in ipairs(redis.call('LRANGE', key, -window, -1)) do
  local s, e = parse(frame)
  if s and e == epoch and s >= from and s <= to and not found[s] then found[s] = frame seqs[#seqs + 1] = s end
end
table.sort(seqs)
local out = {}
for i, s in ipairs(seqs) do out[i] = found[s] end
return out
`

/** The command `defineCommand` adds to the client. */
interface WithHistoryRange {
  aegHistoryRange: (frames: string, from: number, to: number) => Promise<string[]>
}

/** A group's events by user (first appearance order), each user's in the order given. */
function byUser (events: PublishedFrame[]): Map<string, PublishedFrame[]> {
  const users = new Map<string, PublishedFrame[]>()
  for (const e of events) {
    const mine = users.get(e.userId)
    if (mine) mine.push(e)
    else users.set(e.userId, [e])
  }
  return users
}

export function createRedisBroker (clients: RedisConnections, onMessage: BrokerMessageHandler, prefix: string, limits: HistoryLimits, clock: Clock = systemClock): Broker {
  const { command, subscriber, sharded } = clients
  // A cluster spreads shard channels over its nodes instead of sending every message to every node.
  const publish = (channel: string, frame: string): Promise<unknown> => sharded ? command.spublish(channel, frame) : command.publish(channel, frame)
  // A trim takes a 32nd of the history at once (62 frames at the default 2,000; one for a history of 3): the list
  // holds between 31/32 of HISTORY_SIZE and all of it.
  const keep = limits.size - Math.max(1, Math.floor(limits.size / 32)) + 1
  // When this instance last renewed each user's key; entries older than a renewal's interval are of no use.
  const renewEveryMs = Math.max(1, Math.floor(limits.ttlMs / RENEW_SHARE))
  let renewed = new Map<string, number>()
  let renewedSince = clock.now()
  // The Buffer events: the frame's bytes go to the sockets as Redis delivered them.
  const messageEvent = sharded ? 'smessageBuffer' : 'messageBuffer'
  command.defineCommand('aegHistoryRange', { lua: HISTORY_RANGE, numberOfKeys: 1 })
  // defineCommand adds the method at run time (EVALSHA, falling back to EVAL once per connection).
  const scripted = command as RedisClient & WithHistoryRange
  const listener = (channel: Buffer, message: Buffer): void => onMessage(channel.toString(), message)
  subscriber.on(messageEvent, listener)

  // ioredis resubscribes by itself after a reconnect; what was published meanwhile is for the registry to fetch.
  const reconnectListeners: Array<() => void> = []
  let connectedOnce = false
  subscriber.on('ready', () => {
    if (connectedOnce) for (const l of reconnectListeners) l()
    connectedOnce = true
  })
  if (subscriber.status === 'ready') connectedOnce = true

  // SUBSCRIBE and UNSUBSCRIBE take many channels, and ioredis does not auto-pipeline them: the calls that come close
  // together go as one command and one write instead of one each. Each socket that opens or closes is an I/O
  // callback of its own, so a batch per tick would be a batch per socket; calls that follow a batch closely linger
  // for company. A cluster's shard channels live on different nodes: there, one call per channel.
  const batched = (run: (channels: string[]) => Promise<unknown>): DataLoader<string, undefined> =>
    new DataLoader(async (channels) => {
      await run([...new Set(channels)])
      return channels.map(() => undefined)
    }, { cache: false, maxBatchSize: 1000, batchScheduleFn: lingerSchedule() })
  const subscribes = batched(async (channels) => await subscriber.subscribe(...channels))
  const unsubscribes = batched(async (channels) => await subscriber.unsubscribe(...channels))

  /** Whether this instance renews the user's key now (it has not for a renewal's interval), noting it. */
  const renewDue = (key: string): boolean => {
    const now = clock.now()
    if (now - renewedSince >= renewEveryMs) { renewed = new Map(); renewedSince = now }
    const last = renewed.get(key)
    if (last !== undefined && now - last < renewEveryMs) return false
    renewed.set(key, now)
    return true
  }

  /** One user's frames: appended (ascending) and published (in the order given), then trimmed and renewed if due. */
  const publishUser = async (userId: string, mine: PublishedFrame[]): Promise<void> => {
    const key = historyKey(prefix, userId)
    const channel = userChannel(prefix, userId)
    const ascending = mine.every((e, i) => i === 0 || e.seq > mine[i - 1]!.seq) ? mine : [...mine].sort((x, y) => x.seq - y.seq)
    const renew = renewDue(key)
    const appended = command.rpush(key, ...ascending.map((e) => e.frame))
    const expiring = renew ? command.pexpire(key, limits.ttlMs) : undefined
    const published = mine.map((e) => publish(channel, e.frame))
    const len = await appended
    const after: Array<Promise<unknown>> = []
    // A key this call created (it expired, or Redis lost it) gets its life whatever the renewal's schedule says.
    if (!renew && len === mine.length) after.push(command.pexpire(key, limits.ttlMs))
    if (len > limits.size) after.push(command.ltrim(key, -keep, -1))
    await Promise.all([expiring, ...published, ...after])
  }

  const publishEvents = async (events: PublishedFrame[], ifMissing = false): Promise<void> => {
    const users = [...byUser(events)]
    // A relay's or a duplicate's publish may repeat one that went out: published again (each socket's cursor drops an
    // offset it has delivered), not appended again (a range the list lacks is read from the log).
    if (ifMissing) {
      await Promise.all(corked(command, () => users.flatMap(([userId, mine]) => mine.map((e) => publish(userChannel(prefix, userId), e.frame)))))
      return
    }
    // The commands of a group leave in one write, and one connection runs them in the order sent: every user's
    // events go out in offset order. On a cluster, the user's node's connection does the same.
    await Promise.all(corked(command, () => users.map(async ([userId, mine]) => { await publishUser(userId, mine) })))
  }

  return {
    kind: 'redis',
    publishEvents,
    async history (userId, from, to) {
      return await scripted.aegHistoryRange(historyKey(prefix, userId), from, to)
    },
    async publish (channel, message) {
      await publish(channel, message)
    },
    async subscribe (channel) {
      await (sharded ? subscriber.ssubscribe(channel) : subscribes.load(channel))
    },
    async unsubscribe (channel) {
      await (sharded ? subscriber.sunsubscribe(channel) : unsubscribes.load(channel))
    },
    async ping () {
      if (subscriber.status !== 'ready') throw new Error(`subscriber ${subscriber.status}`)
      await command.ping()
    },
    onReconnect (listener) { reconnectListeners.push(listener) },
    async close () {
      subscriber.off(messageEvent, listener)
    }
  }
}
