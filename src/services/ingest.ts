// Ingest: store a validated batch, then publish each newly stored event to its user's channel, serialized once.
import type { FastifyBaseLogger } from 'fastify'
import type { AgentEvent } from '../events/envelope.js'
import { toFrame } from '../events/envelope.js'
import type { Fanout } from '../plugins/app/fanout/index.js'
import type { EventStore } from '../plugins/app/store/store.js'

export interface IngestResult { event_ids: string[], stored: number, duplicates: number }

export async function ingestEvents (deps: { store: EventStore, fanout: Fanout, log: FastifyBaseLogger }, events: AgentEvent[]): Promise<IngestResult> {
  const fresh = await deps.store.append(events)
  // Publishes leave in order on one connection, so a user's events arrive in the order of the batch.
  const results = await Promise.allSettled(fresh.map((e) => deps.fanout.publish(e.context.user_id, JSON.stringify(toFrame(e)))))
  const failed = results.filter((r) => r.status === 'rejected').length
  if (failed > 0) {
    // Stored is what we promised; delivery of these waits for the client's next fetch of history.
    deps.log.warn({ failed, stored: fresh.length }, 'events stored but not published')
  }
  return { event_ids: events.map((e) => e.event_id), stored: fresh.length, duplicates: events.length - fresh.length }
}
