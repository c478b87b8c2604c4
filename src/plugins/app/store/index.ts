// The store plugin: PostgreSQL when configured (migrated at boot if asked), else the bounded in-memory log.
import fp from 'fastify-plugin'
import type { Config } from '../../../config.js'
import { createMemoryStore } from './memory-store.js'
import { migrate } from './migrate.js'
import { createPgStore } from './pg-store.js'
import type { EventStore } from './store.js'

declare module 'fastify' {
  interface FastifyInstance { store: EventStore }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  let store: EventStore
  if (app.pg && config.database) {
    if (config.database.migrateOnBoot) {
      const { from, to } = await migrate(app.pg, config.database.schema)
      if (from !== to) app.log.info({ from, to }, 'database migrated')
    }
    store = createPgStore(app.pg)
  } else {
    store = createMemoryStore()
  }
  app.decorate('store', store)
}, { name: 'store', fastify: '5.x' })
