// The ingest plugin: one path for HTTP and the stream — validate, store in groups, publish, relay what was missed.
import fp from 'fastify-plugin'
import type { Config } from '../../../config.js'
import type { AgentEvent } from '../../../events/envelope.js'
import { GroupCommit } from './group-commit.js'
import { OutboxRelay } from './relay.js'

export { EventRejectedError, RunConflictError, StoreUnavailableError } from './errors.js'

export interface IngestResult { event_ids: string[], stored: number, duplicates: number }

export interface Ingest {
  /**
   * Stores validated events as one unit (all or nothing) and publishes them; resolves once committed.
   * Rejects with RunConflictError, EventRejectedError or StoreUnavailableError.
   */
  submit: (events: AgentEvent[]) => Promise<IngestResult>
}

declare module 'fastify' {
  interface FastifyInstance { ingest: Ingest }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  // The relay's groups may have been published after all (a slow instance): published as repeats (ifMissing), which
  // the broker may leave out where it knows them and every socket's cursor drops.
  // What the write path works with, assembled once: the log, where events are stored and where they are published.
  const deps = { store: app.store, log: app.log }
  const relay = new OutboxRelay({ ...deps, publish: async (events) => { await app.fanout.publishMany(events, true) } })
  const groups = new GroupCommit({
    ...deps,
    lingerMs: config.ingest.lingerMs,
    async publish (events, duplicates, outboxId) {
      if (events.length > 0) await app.fanout.publishMany(events)
      if (duplicates.length > 0) await app.fanout.publishMany(duplicates, true)
      if (outboxId !== undefined) relay.published(outboxId)
    }
  })
  if (app.store.kind === 'postgres') relay.start()
  // At boot, first thing: what an instance stored and never published before it died goes out now.
  await relay.tick(true)

  const ingested = app.metrics.counter('aeg_events_ingested_total', 'Events stored and published, by type', ['type'])
  const duplicated = app.metrics.counter('aeg_events_duplicate_total', 'Events whose event_id was already stored (not stored or delivered again)')
  app.decorate('ingest', {
    async submit (events) {
      const { stored, duplicates } = await groups.submit(events)
      for (const e of stored) ingested.inc({ type: e.type })
      if (duplicates.length > 0) duplicated.inc(duplicates.length)
      return { event_ids: events.map((e) => e.event_id), stored: stored.length, duplicates: duplicates.length }
    }
  })
  app.addHook('onClose', async () => {
    await groups.drain()
    await relay.stop()
  })
}, { name: 'ingest', fastify: '5.x', dependencies: ['metrics', 'store', 'fanout'] })
