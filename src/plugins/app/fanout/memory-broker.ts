// In-process broker for the embedded mode: one instance, history in memory, same contract as Redis.
import type { Broker, BrokerMessageHandler, HistoryLimits } from './broker.js'
import { userChannel } from './broker.js'

interface Entry { seq: number, frame: string, at: number }

export function createMemoryBroker (onMessage: BrokerMessageHandler, prefix: string, limits: HistoryLimits): Broker {
  const subscribed = new Set<string>()
  const histories = new Map<string, Entry[]>()
  const deliver = (channel: string, message: string): void => {
    if (!subscribed.has(channel)) return
    const bytes = Buffer.from(message)
    // A later tick, as a network broker would, but in publication order.
    queueMicrotask(() => { if (subscribed.has(channel)) onMessage(channel, bytes) })
  }
  const publishEvent = (userId: string, seq: number, frame: string, ifMissing = false): void => {
    const now = Date.now()
    if (ifMissing && histories.get(userId)?.some((e) => e.seq === seq && now - e.at < limits.ttlMs)) return
    // A frame published again (by the relay) replaces the one with its offset.
    const list = (histories.get(userId) ?? []).filter((e) => now - e.at < limits.ttlMs && e.seq !== seq)
    list.push({ seq, frame, at: now })
    list.sort((a, b) => a.seq - b.seq)
    histories.set(userId, list.slice(-limits.size))
    deliver(userChannel(prefix, userId), frame)
  }
  return {
    kind: 'memory',
    async publishEvents (events, ifMissing) { for (const e of events) publishEvent(e.userId, e.seq, e.frame, ifMissing) },
    async history (userId, from, to) {
      const now = Date.now()
      return (histories.get(userId) ?? []).filter((e) => e.seq >= from && e.seq <= to && now - e.at < limits.ttlMs).map((e) => e.frame)
    },
    async publish (channel, message) { deliver(channel, message) },
    async subscribe (channel) { subscribed.add(channel) },
    async unsubscribe (channel) { subscribed.delete(channel) },
    async ping () {},
    onReconnect () {},
    async close () { subscribed.clear(); histories.clear() }
  }
}
