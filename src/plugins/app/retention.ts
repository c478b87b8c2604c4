// Retention: whole days of the durable log are dropped once older than RETENTION_HOURS, and the days ahead created.
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import type { EventStore } from './store/store.js'

/** One pass of upkeep: the days ahead first (ingest must always have a partition), then what is past retention. */
export async function retainOnce (store: EventStore, before: Date): Promise<{ partitions: number, events: number }> {
  await store.maintain()
  return await store.prune(before)
}

export default fp<{ config: Config }>(async (app, { config }) => {
  const { retentionHours, retentionIntervalS } = config.history
  if (retentionIntervalS === 0) return
  const tick = (): void => {
    const before = new Date(Date.now() - retentionHours * 3600_000)
    retainOnce(app.store, before).then((n) => {
      if (n.partitions > 0 || n.events > 0) app.log.info({ ...n, before }, 'retention: old events dropped')
    }, (err: unknown) => app.log.warn({ err }, 'retention failed; will retry'))
  }
  const timer = setInterval(tick, retentionIntervalS * 1000)
  timer.unref()
  app.addHook('onClose', async () => { clearInterval(timer) })
}, { name: 'retention', fastify: '5.x', dependencies: ['store'] })
