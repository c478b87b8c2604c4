// Retention: events older than RETENTION_HOURS leave the durable log in small batches, never blocking ingest for long.
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import type { EventStore } from './store/store.js'

const BATCH = 5000
/** Batches per tick: a large backlog is worked off over several ticks rather than in one long burst. */
const MAX_BATCHES = 20

/** Deletes events stored before `before`; returns how many went. */
export async function pruneOnce (store: EventStore, before: Date, batch = BATCH, maxBatches = MAX_BATCHES): Promise<number> {
  let total = 0
  for (let i = 0; i < maxBatches; i++) {
    const n = await store.prune(before, batch)
    total += n
    if (n < batch) break
  }
  return total
}

export default fp<{ config: Config }>(async (app, { config }) => {
  const { retentionHours, retentionIntervalS } = config.history
  if (retentionIntervalS === 0) return
  const tick = (): void => {
    const before = new Date(Date.now() - retentionHours * 3600_000)
    pruneOnce(app.store, before).then((n) => {
      if (n > 0) app.log.info({ deleted: n, before }, 'retention: old events deleted')
    }, (err: unknown) => app.log.warn({ err }, 'retention failed; will retry'))
  }
  const timer = setInterval(tick, retentionIntervalS * 1000)
  timer.unref()
  app.addHook('onClose', async () => { clearInterval(timer) })
}, { name: 'retention', fastify: '5.x', dependencies: ['store'] })
