// The store contract: the durable event log behind ingest.
import type { AgentEvent } from '../../../events/envelope.js'

export interface EventStore {
  readonly kind: 'memory' | 'postgres'
  /** Stores a batch atomically; returns the events that were new (a retried event_id is stored once). */
  append: (events: AgentEvent[]) => Promise<AgentEvent[]>
  ping: () => Promise<void>
}
