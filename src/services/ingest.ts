// Ingest: store and sequence a validated batch, then publish each new event to its user's channel, serialized once.
import type { FastifyBaseLogger } from 'fastify'
import { HttpErrors } from '../errors.js'
import type { AgentEvent } from '../events/envelope.js'
import type { Fanout } from '../plugins/app/fanout/index.js'
import type { Metrics } from '../plugins/app/metrics.js'
import { RunConflictError, type EventStore } from '../plugins/app/store/store.js'

export interface IngestResult { event_ids: string[], stored: number, duplicates: number }

export async function ingestEvents (deps: { store: EventStore, fanout: Fanout, log: FastifyBaseLogger, metrics?: Metrics }, events: AgentEvent[]): Promise<IngestResult> {
  let stored
  try {
    ({ stored } = await deps.store.append(events))
  } catch (err) {
    if (err instanceof RunConflictError) {
      throw Object.assign(new HttpErrors.RunConflict(err.message), { details: { index: err.index, run_id: err.runId } })
    }
    // Nothing was acknowledged: the producer retries, and event ids make the retry safe even if the commit landed.
    deps.log.error({ err }, 'storing events failed')
    throw Object.assign(new HttpErrors.StoreUnavailable('the event log is unavailable; nothing was stored, retry later'), { retryAfter: 1 })
  }
  deps.metrics?.ingested(stored, events.length - stored.length)
  // Publishes leave in order on one connection, so a user's events arrive in offset order from this instance.
  const results = await Promise.allSettled(stored.map((e) => deps.fanout.publish(e)))
  const failed = results.filter((r) => r.status === 'rejected').length
  if (failed > 0) {
    // Stored is what we promised: sockets fetch these from history at the next offset they see, or on resync.
    deps.log.warn({ failed, stored: stored.length }, 'events stored but not published')
  }
  return { event_ids: events.map((e) => e.event_id), stored: stored.length, duplicates: events.length - stored.length }
}
