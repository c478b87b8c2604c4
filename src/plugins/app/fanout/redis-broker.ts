// Redis broker: a Lua script appends a group's events to their users' hot histories and PUBLISHes them; SUBSCRIBE per user channel.
import DataLoader from 'dataloader'
import { lingerSchedule } from '../../../linger.js'
import type { RedisClient, RedisConnections } from '../../external/redis.js'
import type { Broker, BrokerMessageHandler, HistoryLimits, PublishedFrame } from './broker.js'
import { historyKey, userChannel } from './broker.js'

/** The offset a wire frame leads with (toWire in src/events/envelope.ts), in Lua; shared by both scripts. */
const SEQ_OF = 'local function seqOf (frame) return tonumber(string.match(frame, \'^{"seq":(%d+)\')) end'

// One script call stores and publishes the events of many users: per user, the frames join the hot history and are
// PUBLISHed in offset order, the key's life is renewed, and the history is trimmed by count. KEYS: per user, the
// history. ARGV: size, the count a trim leaves, ttlMs, publish command, ifMissing, then per user its channel, its
// count n, and n pairs of seq and frame. A user's key and channel carry the user's hash tag: a call for one user
// runs on Redis Cluster too. The history lives HISTORY_TTL_S after the user's last event, as Centrifugo's does.
//
// The history is a list holding a contiguous run of one epoch's offsets, oldest first: the frame of offset s sits at
// index s - (the head's offset), so a range is one LRANGE and its frames need no score. A sorted set scored by
// offset did the same for out-of-order arrivals, but each ZADD (a skiplist node and a dictionary entry keyed by the
// whole frame) cost Redis two and a half times an RPUSH, and took a quarter more memory per frame. The common case (the
// user's next offsets) is one LINDEX, one RPUSH, a PUBLISH per frame and a PEXPIRE. A group past a gap, or of
// another epoch, starts a new run; one that ends just before the run (two instances' groups crossed in flight) is
// prepended. The rest (relays, duplicates, overlaps) is placed frame by frame: the offset after the tail is
// appended, the one before the head prepended, one past a gap starts a new run, one already in the run is not
// written again (and with ifMissing, the mark of a relayed or duplicate publish, not published again: it went out
// with its first write), one older than the run is left to the durable log. The trim runs when the list outgrows
// size and leaves the last `keep`.
const PUBLISH_EVENTS = `
${SEQ_OF}
local size = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local publish = ARGV[4]
local ifMissing = ARGV[5] == '1'
local function epochOf (frame) return string.match(frame, '^{"seq":%d+,"epoch":"([^"]*)"') or '' end
local a = 6
local published = 0
for u = 1, #KEYS do
  local list = KEYS[u]
  local channel = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  local base = a + 2
  a = base + 2 * n
  -- The run's tail and head offsets; nil for an empty list, or one of another epoch (a new run replaces it).
  local t, h
  local tail = redis.call('LINDEX', list, -1)
  if tail and epochOf(tail) == epochOf(ARGV[base + 1]) then t = seqOf(tail) end
  local len
  local first, last = tonumber(ARGV[base]), tonumber(ARGV[a - 2])
  -- Each offset the one after the previous: a group given out of order is placed frame by frame.
  local contiguous = true
  for i = 1, n - 1 do
    if tonumber(ARGV[base + 2 * i]) ~= first + i then contiguous = false break end
  end
  if t and first <= t then h = seqOf(redis.call('LINDEX', list, 0)) end
  local prepend = t ~= nil and h ~= nil and first <= t and last == h - 1
  if not ifMissing and contiguous and (t == nil or first > t or prepend) then
    -- Written whole: the user's next offsets; a new run (an empty list, another epoch, a gap ahead); or, when two
    -- groups crossed in flight, the offsets just before the run.
    if tail and (t == nil or first > t + 1) then redis.call('DEL', list) end
    local frames = {}
    for i = 1, n do frames[i] = ARGV[prepend and (a + 1 - 2 * i) or (base + 2 * i - 1)] end
    for i = 1, n, 1000 do len = redis.call(prepend and 'LPUSH' or 'RPUSH', list, unpack(frames, i, math.min(i + 999, n))) end
    for i = 0, n - 1 do redis.call(publish, channel, ARGV[base + 2 * i + 1]) end
    published = published + n
  else
    local wrote = false
    for i = 0, n - 1 do
      local seq, frame = tonumber(ARGV[base + 2 * i]), ARGV[base + 2 * i + 1]
      local missing = true
      if t == nil or seq > t + 1 then
        redis.call('DEL', list)
        redis.call('RPUSH', list, frame)
        t, h, wrote = seq, seq, true
      elseif seq == t + 1 then
        redis.call('RPUSH', list, frame)
        t, wrote = seq, true
      else
        h = h or seqOf(redis.call('LINDEX', list, 0))
        if seq >= h then
          missing = false
        elseif seq == h - 1 then
          redis.call('LPUSH', list, frame)
          h, wrote = seq, true
        end
      end
      if missing or not ifMissing then
        redis.call(publish, channel, frame)
        published = published + 1
      end
    end
    if wrote then len = redis.call('LLEN', list) end
  end
  if len then
    if len > size then redis.call('LTRIM', list, -keep, -1) end
    redis.call('PEXPIRE', list, ttl)
  end
end
return published
`

/** Frames from..to of one user's run: one LRANGE by index from the head's offset (KEYS: the list; ARGV: from, to). */
const HISTORY_RANGE = `
${SEQ_OF}
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return {} end
local h = seqOf(head)
if not h then return {} end
local from = math.max(tonumber(ARGV[1]), h)
local to = tonumber(ARGV[2])
if to < from then return {} end
return redis.call('LRANGE', KEYS[1], from - h, to - h)
`

/** Most events in one script call: Redis runs nothing else meanwhile, so a large group goes as several calls. */
const EVENTS_PER_CALL = 200

/** The command `defineCommand` adds to the client: numkeys, then the keys, then the arguments. */
interface WithPublishEvents {
  aegPublishEvents: (numKeys: number, ...args: Array<string | number>) => Promise<number>
  aegPublishUserEvents: (frames: string, ...args: Array<string | number>) => Promise<number>
  aegHistoryRange: (frames: string, from: number, to: number) => Promise<string[]>
}

/** A group's events by user (first appearance order), each user's in the order given: its offsets ascending. */
function byUser (events: PublishedFrame[]): Map<string, PublishedFrame[]> {
  const users = new Map<string, PublishedFrame[]>()
  for (const e of events) {
    const mine = users.get(e.userId)
    if (mine) mine.push(e)
    else users.set(e.userId, [e])
  }
  return users
}

export function createRedisBroker (clients: RedisConnections, onMessage: BrokerMessageHandler, prefix: string, limits: HistoryLimits): Broker {
  const { command, subscriber, sharded } = clients
  // A cluster spreads shard channels over its nodes instead of sending every message to every node.
  const publishCommand = sharded ? 'SPUBLISH' : 'PUBLISH'
  // A trim takes a 32nd of the history at once (62 frames at the default 2,000; one for a history of 3): the list
  // holds between 31/32 of HISTORY_SIZE and all of it.
  const keep = limits.size - Math.max(1, Math.floor(limits.size / 32)) + 1
  // The Buffer events: the frame's bytes go to the sockets as Redis delivered them.
  const messageEvent = sharded ? 'smessageBuffer' : 'messageBuffer'
  command.defineCommand('aegPublishEvents', { lua: PUBLISH_EVENTS })
  // The same script for one user's key, declared as one: a cluster client routes (and auto-pipelines) a command by
  // its declared keys, and with a variable count it would take arguments for keys.
  command.defineCommand('aegPublishUserEvents', { lua: PUBLISH_EVENTS, numberOfKeys: 1 })
  command.defineCommand('aegHistoryRange', { lua: HISTORY_RANGE, numberOfKeys: 1 })
  // defineCommand adds the method at run time (EVALSHA, falling back to EVAL once per connection).
  const scripted = command as RedisClient & WithPublishEvents
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

  /** The script's keys and arguments for some users' events. */
  const script = (users: Array<[string, PublishedFrame[]]>, ifMissing: boolean): { keys: string[], args: Array<string | number> } => {
    const keys: string[] = []
    const args: Array<string | number> = [limits.size, keep, limits.ttlMs, publishCommand, ifMissing ? '1' : '0']
    for (const [userId, mine] of users) {
      keys.push(historyKey(prefix, userId))
      args.push(userChannel(prefix, userId), mine.length)
      for (const e of mine) args.push(e.seq, e.frame)
    }
    return { keys, args }
  }
  const many = (users: Array<[string, PublishedFrame[]]>, ifMissing: boolean): Promise<number> => {
    const { keys, args } = script(users, ifMissing)
    return scripted.aegPublishEvents(keys.length, ...keys, ...args)
  }

  const publishEvents = async (events: PublishedFrame[], ifMissing = false): Promise<void> => {
    const users = [...byUser(events)]
    // A cluster runs a script on the node of its keys: there, one call per user.
    if (sharded) {
      await Promise.all(users.map(async (u) => {
        const { keys: [frames], args } = script([u], ifMissing)
        await scripted.aegPublishUserEvents(frames!, ...args)
      }))
      return
    }
    // Calls of up to EVENTS_PER_CALL events on the command connection, whose auto-pipelining sends the calls of one
    // tick in one write; one connection runs them in the order sent, so every user's events go out in offset order.
    const calls: Array<Promise<number>> = []
    let chunk: Array<[string, PublishedFrame[]]> = []
    let size = 0
    for (const u of users) {
      chunk.push(u)
      size += u[1].length
      if (size >= EVENTS_PER_CALL) { calls.push(many(chunk, ifMissing)); chunk = []; size = 0 }
    }
    if (chunk.length > 0) calls.push(many(chunk, ifMissing))
    await Promise.all(calls)
  }

  return {
    kind: 'redis',
    publishEvents,
    async history (userId, from, to) {
      return await scripted.aegHistoryRange(historyKey(prefix, userId), from, to)
    },
    async publish (channel, message) {
      await (sharded ? command.spublish(channel, message) : command.publish(channel, message))
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
