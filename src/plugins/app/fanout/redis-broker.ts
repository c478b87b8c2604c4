// Redis pub/sub broker: PUBLISH on the command connection, SUBSCRIBE per user channel on the dedicated subscriber.
import type { RedisClient } from '../../external/redis.js'
import type { Broker, BrokerMessageHandler } from './broker.js'

export function createRedisBroker (clients: { command: RedisClient, subscriber: RedisClient }, onMessage: BrokerMessageHandler): Broker {
  const { command, subscriber } = clients
  const listener = (channel: string, message: string): void => onMessage(channel, message)
  subscriber.on('message', listener)
  return {
    kind: 'redis',
    async publish (channel, message) {
      await command.publish(channel, message)
    },
    async subscribe (channel) {
      await subscriber.subscribe(channel)
    },
    async unsubscribe (channel) {
      await subscriber.unsubscribe(channel)
    },
    async ping () {
      await Promise.all([command.ping(), subscriber.status === 'ready' ? Promise.resolve() : Promise.reject(new Error(`subscriber ${subscriber.status}`))])
    },
    async close () {
      subscriber.off('message', listener)
    }
  }
}
