// In-process broker for the embedded mode: one instance, nothing kept, same contract as Redis.
import type { Broker, BrokerMessageHandler } from './broker.js'

export function createMemoryBroker (onMessage: BrokerMessageHandler): Broker {
  const subscribed = new Set<string>()
  return {
    kind: 'memory',
    async publish (channel, message) {
      // Delivered on a later tick, as a network broker would, but in publication order.
      if (subscribed.has(channel)) queueMicrotask(() => { if (subscribed.has(channel)) onMessage(channel, message) })
    },
    async subscribe (channel) { subscribed.add(channel) },
    async unsubscribe (channel) { subscribed.delete(channel) },
    async ping () {},
    async close () { subscribed.clear() }
  }
}
