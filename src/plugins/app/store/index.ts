// The store plugin: PostgreSQL when configured (migrated at boot if asked), else the bounded in-memory log.
import fp from 'fastify-plugin'
import type { Config } from '../../../config.js'
import { createMemoryStore } from './memory-store.js'
import { migrate } from './migrate.js'
import { createPgStore } from './pg-store.js'
import type { EventStore } from './store.js'
import { createMemoryThreads, createPgThreads, type ThreadStore } from './threads.js'

declare module 'fastify' {
  interface FastifyInstance { store: EventStore, threads: ThreadStore }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  let store: EventStore
  let threads: ThreadStore
  if (app.pg && config.database) {
    if (config.database.migrateOnBoot) {
      const { from, to } = await migrate(app.pg, config.database.schema)
      if (from !== to) app.log.info({ from, to }, 'database migrated')
    }
    store = createPgStore(app.pg)
    // Today's partition and the next days' exist before the first event arrives.
    await store.maintain()
    threads = createPgThreads(app.pg)
  } else {
    const memory = createMemoryStore()
    store = memory
    // The agents' answers live in the event log; the memory store reads them from there.
    threads = createMemoryThreads(async (userId, threadId) => ((await memory.threadEvents(userId, threadId, 0, 10_000)) ?? [])
      .filter((e) => e.type === 'agent_completed')
      .map((e) => ({ id: e.event_id, role: 'assistant' as const, content: String(e.fields.final_response), created_at: new Date(e.timestamp * 1000).toISOString(), run_id: e.context.run_id })),
    async (userId, runId) => await memory.run(userId, runId))
  }
  app.metrics.dependency(store.kind, () => store.ping())
  app.decorate('store', store)
  app.decorate('threads', threads)
}, { name: 'store', fastify: '5.x', dependencies: ['metrics'] })
