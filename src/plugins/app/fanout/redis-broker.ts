// Redis broker: a Lua script adds a group's events to their users' hot histories and PUBLISHes them; SUBSCRIBE per user channel.
import DataLoader from 'dataloader'
import { lingerSchedule } from '../../../linger.js'
import type { RedisClient, RedisConnections } from '../../external/redis.js'
import type { Broker, BrokerMessageHandler, HistoryLimits, PublishedFrame } from './broker.js'
import { historyKey, userChannel } from './broker.js'

// One script call stores and publishes the events of many users: per user, the frames join the hot history (score
// seq) and are PUBLISHed in offset order, the key's life is renewed, and the history is trimmed by count. KEYS: per
// user, the history. ARGV: size, trim step, ttlMs, publish command, ifMissing, then per user its channel, its count
// n, and n pairs of seq and frame. A user's key and channel carry the user's hash tag: a call for one user runs on
// Redis Cluster too. The history lives HISTORY_TTL_S after the user's last event, as Centrifugo's does: no per-frame
// age to keep. Each redis.call costs Redis about as much as the PUBLISH it is there for, so the common case (a new
// offset, published once) makes two per event and one per user: the trim runs only when the user's offsets cross a
// multiple of the step (offsets are contiguous per user), and leaves size - step + 1 frames, so that the history
// holds between that and size frames; a relay's group, which may fill an old gap, is trimmed every call.
const PUBLISH_EVENTS = `
local size = tonumber(ARGV[1])
local step = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local publish = ARGV[4]
local ifMissing = ARGV[5] == '1'
local a = 6
local published = 0
for u = 1, #KEYS do
  local frames = KEYS[u]
  local channel = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  local first, last
  for _ = 1, n do
    local seq, frame = tonumber(ARGV[a]), ARGV[a + 1]
    a = a + 2
    -- A duplicate or a relayed group: published only if its offset never reached the history (its publish was lost),
    -- and then it replaces any frame under its offset. A first publish's offset is new: nothing to replace.
    if not (ifMissing and redis.call('ZCOUNT', frames, seq, seq) > 0) then
      if ifMissing then redis.call('ZREMRANGEBYSCORE', frames, seq, seq) end
      redis.call('ZADD', frames, seq, frame)
      redis.call(publish, channel, frame)
      published = published + 1
      first = first or seq
      last = seq
    end
  end
  if last then
    if ifMissing or math.floor(last / step) ~= math.floor((first - 1) / step) then
      redis.call('ZREMRANGEBYRANK', frames, 0, -(size - step + 2))
    end
    redis.call('PEXPIRE', frames, ttl)
  end
end
return published
`

/** Most events in one script call: Redis runs nothing else meanwhile, so a large group goes as several calls. */
const EVENTS_PER_CALL = 200

/** The command `defineCommand` adds to the client: numkeys, then the keys, then the arguments. */
interface WithPublishEvents {
  aegPublishEvents: (numKeys: number, ...args: Array<string | number>) => Promise<number>
  aegPublishUserEvents: (frames: string, ...args: Array<string | number>) => Promise<number>
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
  // A 32nd of the history: a trim every 62 events of a user at the default 2,000, every event for a history of 3.
  const trimStep = Math.max(1, Math.floor(limits.size / 32))
  // The Buffer events: the frame's bytes go to the sockets as Redis delivered them.
  const messageEvent = sharded ? 'smessageBuffer' : 'messageBuffer'
  command.defineCommand('aegPublishEvents', { lua: PUBLISH_EVENTS })
  // The same script for one user's key, declared as one: a cluster client routes (and auto-pipelines) a command by
  // its declared keys, and with a variable count it would take arguments for keys.
  command.defineCommand('aegPublishUserEvents', { lua: PUBLISH_EVENTS, numberOfKeys: 1 })
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
    const args: Array<string | number> = [limits.size, trimStep, limits.ttlMs, publishCommand, ifMissing ? '1' : '0']
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
      return await command.zrangebyscore(historyKey(prefix, userId), from, to)
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
