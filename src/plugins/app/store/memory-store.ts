// In-memory event log for the embedded mode: bounded, so a long-running demo cannot grow without limit.
import type { AgentEvent } from '../../../events/envelope.js'
import type { EventStore } from './store.js'

export function createMemoryStore (limit = 10_000): EventStore {
  const events = new Map<string, AgentEvent>()
  return {
    kind: 'memory',
    async append (batch) {
      const fresh = batch.filter((e) => !events.has(e.event_id))
      for (const e of fresh) events.set(e.event_id, e)
      // Maps iterate in insertion order: the oldest go first.
      for (const id of events.keys()) {
        if (events.size <= limit) break
        events.delete(id)
      }
      return fresh
    },
    async ping () {}
  }
}
