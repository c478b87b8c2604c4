// Redis broker: one Lua script per event adds it to the user's hot history and PUBLISHes it; SUBSCRIBE per user channel.
import type { RedisClient, RedisConnections } from '../../external/redis.js'
import type { Broker, BrokerMessageHandler, HistoryLimits } from './broker.js'
import { historyKeys, userChannel } from './broker.js'

// KEYS: frames (score seq, member frame), ages (score ms, member seq). ARGV: seq, frame, size, ttlMs, nowMs, channel.
// Both keys and the channel carry the user's hash tag, so the script also runs on Redis Cluster.
const PUBLISH_EVENT = `
local seq = tonumber(ARGV[1])
local size = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
-- A duplicate or a relayed group: published only if its offset never reached the history (its publish was lost).
if ARGV[8] == '1' and redis.call('ZCOUNT', KEYS[1], seq, seq) > 0 then return 0 end
-- Published again (the relay after a lost publish): the frame replaces the one with its offset.
redis.call('ZREMRANGEBYSCORE', KEYS[1], seq, seq)
redis.call('ZADD', KEYS[1], seq, ARGV[2])
redis.call('ZADD', KEYS[2], now, seq)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(size + 1))
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl, 'LIMIT', 0, 256)
if #old > 0 then
  local newest = 0
  for _, s in ipairs(old) do if tonumber(s) > newest then newest = tonumber(s) end end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', newest)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(size + 1))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return redis.call(ARGV[7], ARGV[6], ARGV[2])
`

/** The command `defineCommand` adds to the client. */
interface WithPublishEvent {
  aegPublishEvent: (frames: string, ages: string, seq: number, frame: string, size: number, ttlMs: number, now: number, channel: string, publish: string, ifMissing: '0' | '1') => Promise<number>
}

export function createRedisBroker (clients: RedisConnections, onMessage: BrokerMessageHandler, prefix: string, limits: HistoryLimits): Broker {
  const { command, subscriber, sharded } = clients
  // A cluster spreads shard channels over its nodes instead of sending every message to every node.
  const publishCommand = sharded ? 'SPUBLISH' : 'PUBLISH'
  // The Buffer events: the frame's bytes go to the sockets as Redis delivered them.
  const messageEvent = sharded ? 'smessageBuffer' : 'messageBuffer'
  command.defineCommand('aegPublishEvent', { numberOfKeys: 2, lua: PUBLISH_EVENT })
  // defineCommand adds the method at run time (EVALSHA, falling back to EVAL once per connection).
  const scripted = command as RedisClient & WithPublishEvent
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

  const publishEvent = async (userId: string, seq: number, frame: string, ifMissing = false): Promise<void> => {
    const [frames, ages] = historyKeys(prefix, userId)
    await scripted.aegPublishEvent(frames, ages, seq, frame, limits.size, limits.ttlMs, Date.now(), userChannel(prefix, userId), publishCommand, ifMissing ? '1' : '0')
  }

  return {
    kind: 'redis',
    publishEvent: (userId, seq, frame) => publishEvent(userId, seq, frame),
    async publishEvents (events, ifMissing = false) {
      // A cluster pipeline must stay on one node: there, each user's scripts are sent in order to its own node.
      if (sharded) { await Promise.all(events.map((e) => publishEvent(e.userId, e.seq, e.frame, ifMissing))); return }
      // One pipeline: the scripts run in this order on one connection, so a user's events publish in offset order.
      const pipeline = command.pipeline() as unknown as { aegPublishEvent: (...args: Parameters<WithPublishEvent['aegPublishEvent']>) => unknown, exec: () => Promise<Array<[Error | null, unknown]> | null> }
      const now = Date.now()
      for (const { userId, seq, frame } of events) {
        const [frames, ages] = historyKeys(prefix, userId)
        pipeline.aegPublishEvent(frames, ages, seq, frame, limits.size, limits.ttlMs, now, userChannel(prefix, userId), publishCommand, ifMissing ? '1' : '0')
      }
      const replies = await pipeline.exec()
      const failed = replies?.find(([err]) => err !== null)?.[0]
      if (failed instanceof Error) throw failed
    },
    async history (userId, from, to) {
      return await command.zrangebyscore(historyKeys(prefix, userId)[0], from, to)
    },
    async publish (channel, message) {
      await (sharded ? command.spublish(channel, message) : command.publish(channel, message))
    },
    async subscribe (channel) {
      await (sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel))
    },
    async unsubscribe (channel) {
      await (sharded ? subscriber.sunsubscribe(channel) : subscriber.unsubscribe(channel))
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
