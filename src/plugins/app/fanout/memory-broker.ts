// In-process broker for the embedded mode: one instance, history in memory, same contract as Redis.
import { systemClock, type Clock } from '../../../clock.js'
import type { Broker, BrokerMessageHandler, HistoryLimits } from './broker.js'
import { userChannel } from './broker.js'

interface Entry { seq: number, frame: string }
/** A user's hot history, kept `ttlMs` after their last event (as the Redis key's life is renewed). */
interface History { entries: Entry[], lastAt: number }

export function createMemoryBroker (onMessage: BrokerMessageHandler, prefix: string, limits: HistoryLimits, clock: Clock = systemClock): Broker {
  const subscribed = new Set<string>()
  const histories = new Map<string, History>()
  const live = (userId: string, at: number): Entry[] => {
    const h = histories.get(userId)
    if (h === undefined) return []
    if (at - h.lastAt < limits.ttlMs) return h.entries
    histories.delete(userId)
    return []
  }
  const deliver = (channel: string, message: string): void => {
    if (!subscribed.has(channel)) return
    const bytes = Buffer.from(message)
    // A later tick, as a network broker would, but in publication order.
    queueMicrotask(() => { if (subscribed.has(channel)) onMessage(channel, bytes) })
  }
  const publishEvent = (userId: string, seq: number, frame: string, ifMissing = false): void => {
    const at = clock.now()
    if (ifMissing && live(userId, at).some((e) => e.seq === seq)) return
    // A frame published again (by the relay) replaces the one with its offset.
    const list = live(userId, at).filter((e) => e.seq !== seq)
    list.push({ seq, frame })
    list.sort((a, b) => a.seq - b.seq)
    histories.set(userId, { entries: list.slice(-limits.size), lastAt: at })
    deliver(userChannel(prefix, userId), frame)
  }
  return {
    kind: 'memory',
    async publishEvents (events, ifMissing) { for (const e of events) publishEvent(e.userId, e.seq, e.frame, ifMissing) },
    async history (userId, from, to) {
      return live(userId, clock.now()).filter((e) => e.seq >= from && e.seq <= to).map((e) => e.frame)
    },
    async publish (channel, message) { deliver(channel, message) },
    async subscribe (channel) { subscribed.add(channel) },
    async unsubscribe (channel) { subscribed.delete(channel) },
    async ping () {},
    onReconnect () {},
    async close () { subscribed.clear(); histories.clear() }
  }
}
