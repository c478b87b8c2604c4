// The backends plugin: the one place that chooses Redis and PostgreSQL or memory, for every capability at once.
import type { Clock } from '../../../clock.js'
import fp from 'fastify-plugin'
import type { Config } from '../../../config.js'
import type { Backends } from './backends.js'
import { embeddedBackends } from './embedded.js'
import { productionBackends } from './production.js'

export type { Backends } from './backends.js'

declare module 'fastify' {
  interface FastifyInstance { backends: Backends }
}

export default fp<{ config: Config, clock: Clock }>(async (app, { config, clock }) => {
  const context = { config, log: app.log, clock }
  // Production mode needs both (config.ts refuses one without the other); the embedded mode has neither.
  const backends = app.redis && app.pg
    ? await productionBackends(app.redis, app.pg, context)
    : embeddedBackends(context)
  app.decorate('backends', backends)
}, { name: 'backends', fastify: '5.x' })
