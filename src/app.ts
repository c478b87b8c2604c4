// buildApp(config): the whole gateway, plugins registered in the order they depend on each other.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Config } from './config.js'
import { registerErrorHandlers } from './error-handler.js'
import { loggerOptions } from './logger.js'
import auth from './plugins/app/auth/index.js'
import fanout from './plugins/app/fanout/index.js'
import sessions from './plugins/app/sessions/index.js'
import store from './plugins/app/store/index.js'
import postgres from './plugins/external/postgres.js'
import redis from './plugins/external/redis.js'
import websocket from './plugins/external/websocket.js'
import admin from './routes/admin.js'
import events from './routes/events.js'
import health from './routes/health.js'
import tickets from './routes/tickets.js'
import ws from './routes/ws.js'

export interface BuildOptions {
  /** A logger instance or options; defaults to JSON logs at the configured level. */
  logger?: FastifyServerOptions['logger'] | FastifyServerOptions['loggerInstance']
}

export async function buildApp (config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const logger = opts.logger ?? loggerOptions(config)
  const app = Fastify({
    ...(typeof logger === 'object' && logger !== null && 'child' in logger ? { loggerInstance: logger } : { logger }),
    bodyLimit: config.ingest.bodyLimit,
    trustProxy: true
  }).withTypeProvider<TypeBoxTypeProvider>()

  if (config.mode === 'embedded') {
    app.log.warn('embedded mode: in-process broker and in-memory store; single instance, nothing is kept across restarts. Set REDIS_URL and DATABASE_URL for production.')
  }
  registerErrorHandlers(app)

  // 1. Infrastructure: sockets, then the connections of production mode.
  await app.register(websocket, { maxPayload: config.ws.maxPayload })
  if (config.redis) await app.register(redis, { url: config.redis.url })
  if (config.database) await app.register(postgres, { url: config.database.url, schema: config.database.schema, max: config.database.poolMax })

  // 2. Our capabilities, each on top of the previous.
  await app.register(auth, { config })
  await app.register(store, { config })
  await app.register(fanout, { config })
  await app.register(sessions, { config })

  // 3. Routes, each in its own scope with its own guards.
  await app.register(health, { mode: config.mode, instanceId: config.instanceId })
  await app.register(events, { maxBatch: config.ingest.maxBatch })
  await app.register(tickets, { allowedOrigins: config.session.allowedOrigins })
  await app.register(admin)
  await app.register(ws, { heartbeatIntervalS: config.ws.heartbeatIntervalS, allowedOrigins: config.session.allowedOrigins })

  return app
}
