// buildApp(config): the whole gateway, plugins registered in the order they depend on each other.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { systemClock, type Clock } from './clock.js'
import type { Config } from './config.js'
import { registerErrorHandlers } from './error-handler.js'
import { levelEnabled, loggerOptions, requestLogger } from './logger.js'
import auth from './plugins/app/auth/index.js'
import backends from './plugins/app/backends/index.js'
import fanout from './plugins/app/fanout/index.js'
import ingest from './plugins/app/ingest/index.js'
import metrics from './plugins/app/metrics.js'
import sessions from './plugins/app/sessions/index.js'
import store from './plugins/app/store/index.js'
import streamIngest from './plugins/app/stream-ingest.js'
import retention from './plugins/app/retention.js'
import runs from './plugins/app/runs/index.js'
import drain from './plugins/external/drain.js'
import postgres from './plugins/external/postgres.js'
import redis from './plugins/external/redis.js'
import pressure from './plugins/external/pressure.js'
import rateLimit from './plugins/external/rate-limit.js'
import websocket from './plugins/external/websocket.js'
import admin from './routes/admin.js'
import demo from './routes/demo.js'
import events, { INGEST_PATH } from './routes/events.js'
import health from './routes/health.js'
import history from './routes/history.js'
import tickets from './routes/tickets.js'
import ws, { WS_PATHS } from './routes/ws.js'

export interface BuildOptions {
  /** A logger instance or options; defaults to JSON logs at the configured level. */
  logger?: FastifyServerOptions['logger'] | FastifyServerOptions['loggerInstance']
  /** What token expiry, the auth breaker and cache and ticket lifetimes read the time from; defaults to Date.now. */
  clock?: Clock
}

/** Whether `url` is `path`, with or without a query; asked of every request, so no split. */
const isPath = (url: string, path: string): boolean => url.startsWith(path) && (url.length === path.length || url[path.length] === '?')

/** The nearest `hops` proxies are believed (Fastify's hop count, as a function its types accept). */
function trustHops (hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops
}

export async function buildApp (config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const logger = opts.logger ?? loggerOptions(config)
  const clock = opts.clock ?? systemClock
  const app = Fastify({
    ...(typeof logger === 'object' && logger !== null && 'child' in logger ? { loggerInstance: logger } : { logger }),
    childLoggerFactory: requestLogger,
    // No request lines for the two routes whose requests come by the thousand and are counted in the metrics
    // (refusals and failures are still logged, by the error handler and the upgrade's auth hook): the agent
    // backends' ingest, and socket upgrades below debug. A line per upgrade was a sixth of a connect's time in a
    // profile of 10,000 sockets connecting (its serialization, redaction and synchronous write), and a reconnect
    // storm after a deploy would write one per socket; gateways such as Centrifugo log connections at debug too.
    logController: new LogController({
      disableRequestLogging: (req: FastifyRequest) => req.method === 'POST'
        ? isPath(req.url, INGEST_PATH)
        : req.method === 'GET' && req.headers.upgrade !== undefined && WS_PATHS.some((path) => isPath(req.url, path)) && !levelEnabled(req.log, 'debug')
    }),
    bodyLimit: config.ingest.bodyLimit,
    // Off unless configured: with it on, any client could choose its logged and rate-limited address.
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : config.trustProxy
  }).withTypeProvider<TypeBoxTypeProvider>()

  if (config.mode === 'embedded') {
    app.log.warn('embedded mode: in-process broker and in-memory store; single instance, nothing is kept across restarts. Set REDIS_URL and DATABASE_URL for production.')
  }
  registerErrorHandlers(app)

  // 1. Infrastructure: the shutdown flag (its close hook runs first), sockets, then the connections of production mode.
  await app.register(drain)
  await app.register(websocket, { maxPayload: config.ws.maxPayload, drainWindowMs: config.ws.drainWindowMs, reconnectJitterMs: config.ws.reconnectJitterS * 1000 })
  await app.register(rateLimit, { windowMs: config.clientLimits.windowMs })
  if (config.redis) await app.register(redis, { redis: config.redis })
  if (config.database) await app.register(postgres, { url: config.database.url, schema: config.database.schema, max: config.database.poolMax, applicationName: `aeg:${config.instanceId}` })

  // 2. Our capabilities, each on top of the previous.
  // Under NODE_ENV=production /metrics is served only behind METRICS_TOKEN.
  await app.register(metrics, { token: config.metricsToken, serve: config.env !== 'production' || config.metricsToken !== undefined })
  // Every Redis-or-memory choice, made once for all the capabilities below.
  await app.register(backends, { config, clock })
  await app.register(auth, { config, clock })
  await app.register(store)
  await app.register(fanout, { config })
  await app.register(sessions, { config, clock })
  await app.register(ingest, { config })
  await app.register(streamIngest, { config })
  await app.register(retention, { config })
  await app.register(runs, { config })

  // 3. Routes, each in its own scope with its own guards. Health stays outside the pressure guard: a busy
  // instance must still look alive to Cloud Run, or it would be restarted when it is needed most.
  await app.register(health, { mode: config.mode, instanceId: config.instanceId })
  await app.register(async (served) => {
    if (config.pressure.maxEventLoopDelayMs > 0) await served.register(pressure, { maxEventLoopDelayMs: config.pressure.maxEventLoopDelayMs })
    await served.register(servedRoutes, { config })
  })

  return app
}

/** The routes that do the work, under the pressure guard. */
async function servedRoutes (app: FastifyInstance, { config }: { config: Config }): Promise<void> {
  await app.register(events, { maxBatch: config.ingest.maxBatch })
  await app.register(tickets, { allowedOrigins: config.session.allowedOrigins, publicWsUrl: config.publicWsUrl, perAddress: config.clientLimits.tickets })
  await app.register(admin)
  await app.register(history)
  // The demo page and its dev tokens exist only in the embedded mode, or where dev auth was opted in to
  // (ALLOW_DEV_AUTH, which NODE_ENV=production refuses): the mode decides, whatever NODE_ENV says.
  if (config.mode === 'embedded' || config.auth.mode === 'dev') await app.register(demo, { devSecret: config.auth.mode === 'dev' ? config.auth.secret : undefined })
  await app.register(ws, { ws: config.ws, allowedOrigins: config.session.allowedOrigins, perAddress: { max: config.clientLimits.upgrades, windowMs: config.clientLimits.windowMs } })
}
