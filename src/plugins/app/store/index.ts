// The store plugin: the event log and threads the backends chose (PostgreSQL, migrated at boot if asked, or memory).
import fp from 'fastify-plugin'
import type { EventStore } from './store.js'
import type { ThreadStore } from './threads.js'

declare module 'fastify' {
  interface FastifyInstance { store: EventStore, threads: ThreadStore }
}

export default fp(async (app) => {
  const { store, threads } = app.backends
  app.metrics.dependency(store.kind, () => store.ping())
  app.decorate('store', store)
  app.decorate('threads', threads)
}, { name: 'store', fastify: '5.x', dependencies: ['metrics', 'backends'] })
