// Embedded backends: everything in this process and in memory; one instance, nothing kept across restarts.
import { createMemoryRevocations } from '../auth/revocations.js'
import { createMemoryTickets } from '../auth/tickets.js'
import { createMemoryBroker } from '../fanout/memory-broker.js'
import { createMemoryRunQueue } from '../runs/queue.js'
import { createMemorySocketCap } from '../sessions/socket-cap.js'
import { createMemoryStore } from '../store/memory-store.js'
import { createMemoryThreads } from '../store/threads.js'
import type { BackendContext, Backends } from './backends.js'

export function embeddedBackends ({ config, clock }: BackendContext): Backends {
  const { keyPrefix: prefix, history } = config
  const store = createMemoryStore()
  // The agents' answers live in the event log; the memory store reads them from there.
  const threads = createMemoryThreads(async (userId, threadId) => ((await store.threadEvents(userId, threadId, 0, 10_000)) ?? [])
    .filter((e) => e.type === 'agent_completed')
    .map((e) => ({ id: e.event_id, role: 'assistant' as const, content: String(e.fields.final_response), created_at: new Date(e.timestamp * 1000).toISOString(), run_id: e.context.run_id })),
  async (userId, runId) => await store.run(userId, runId))
  return {
    mode: config.mode,
    store,
    threads,
    tickets: createMemoryTickets(undefined, clock),
    revocations: createMemoryRevocations(),
    socketCap: createMemorySocketCap(config.session.maxSocketsPerUser),
    broker: (onMessage) => createMemoryBroker(onMessage, prefix, { size: history.size, ttlMs: history.ttlMs }, clock),
    // The reference agent runs here and its events take the same path as a worker's.
    runQueue: (agent) => createMemoryRunQueue(agent)
  }
}
