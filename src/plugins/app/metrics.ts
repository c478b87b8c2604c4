// Prometheus metrics at /metrics: one registry per app (tests run several apps in one process), labels never hold user data.
import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { HttpErrors } from '../../errors.js'
import type { AgentEvent } from '../../events/envelope.js'

/** What the delivery path reports; kept free of prom-client so the registry does not depend on it. */
export interface DeliveryObserver {
  /** One broker message written to `sockets` local sockets. */
  delivered: (message: Buffer, sockets: number) => void
  resumed: (outcome: string) => void
  closed: (reason: string) => void
}

export interface Metrics {
  registry: Registry
  observer: DeliveryObserver
  ingested: (events: AgentEvent[], duplicates: number) => void
  auth: (outcome: string) => void
}

declare module 'fastify' {
  interface FastifyInstance { metrics: Metrics }
}

const TYPE_AT = Buffer.from('"type":"')
const QUOTE = 0x22
/** The frame's type, read where the wire format puts it (after seq and epoch) without decoding the frame. */
function typeOf (message: Buffer): string {
  const at = message.indexOf(TYPE_AT)
  if (at < 0 || at > 120) return 'other'
  const end = message.indexOf(QUOTE, at + TYPE_AT.length)
  return end < 0 ? 'other' : message.toString('latin1', at + TYPE_AT.length, end)
}
const TIMESTAMP = /"timestamp":(\d+(?:\.\d+)?)/
/** Latency is sampled: a regex on every frame would cost more than the rest of delivery. */
const SAMPLE_EVERY = 16

export interface MetricsOptions {
  /** Bearer token /metrics asks for; undefined: open. */
  token?: string
  /** False: metrics are kept but /metrics is not served (production without METRICS_TOKEN). */
  serve?: boolean
}

// Hashing first gives equal-length inputs, so the comparison takes the same time whatever the guess.
function sameToken (given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest())
}

export default fp<MetricsOptions>(async (app, opts) => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'aeg_' })
  // Gauges read at scrape time.
  registry.registerMetric(new Gauge({ name: 'aeg_sockets', help: 'Open, registered WebSockets on this instance', registers: [], collect () { this.set(app.registry?.connectionCount ?? 0) } }))
  registry.registerMetric(new Gauge({ name: 'aeg_users', help: 'Users with at least one socket on this instance', registers: [], collect () { this.set(app.registry?.userCount ?? 0) } }))
  const ingestedTotal = new Counter({ name: 'aeg_events_ingested_total', help: 'Events stored and published, by type', labelNames: ['type'], registers: [registry] })
  const duplicates = new Counter({ name: 'aeg_events_duplicate_total', help: 'Events whose event_id was already stored (not stored or delivered again)', registers: [registry] })
  const delivered = new Counter({ name: 'aeg_frames_delivered_total', help: 'Stream frames written to sockets, by type', labelNames: ['type'], registers: [registry] })
  const latency = new Histogram({
    name: 'aeg_delivery_latency_seconds',
    help: 'From the event\'s timestamp (ingest time unless the producer set it) to its delivery on this instance; sampled 1 in 16',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry]
  })
  // The auth plugin keeps its own counts (remote mode); they are read at scrape time.
  registry.registerMetric(new Counter({
    name: 'aeg_auth_cache_total',
    help: 'Remote token verifications by cache outcome: hit, miss (a call to the auth service), joined (single flight)',
    labelNames: ['result'],
    registers: [],
    collect () {
      const cache = app.auth?.status().cache
      if (!cache) return
      this.reset()
      this.inc({ result: 'hit' }, cache.hits)
      this.inc({ result: 'miss' }, cache.misses)
      this.inc({ result: 'joined' }, cache.joined)
    }
  }))
  registry.registerMetric(new Gauge({
    name: 'aeg_auth_breaker_open',
    help: 'The auth service circuit: 0 closed, 0.5 half-open, 1 open (remote mode)',
    registers: [],
    collect () {
      const state = app.auth?.status().breaker
      if (state !== undefined) this.set(state === 'open' ? 1 : state === 'closed' ? 0 : 0.5)
    }
  }))
  const resumes = new Counter({ name: 'aeg_resumes_total', help: 'Resumes, by outcome (ok, or the resume_failed reason)', labelNames: ['outcome'], registers: [registry] })
  const closes = new Counter({ name: 'aeg_socket_closes_total', help: 'Sockets closed by the gateway, by reason', labelNames: ['reason'], registers: [registry] })
  const auth = new Counter({ name: 'aeg_ws_auth_total', help: 'WebSocket authentications, by outcome', labelNames: ['outcome'], registers: [registry] })
  registry.registerMetric(new Gauge({
    name: 'aeg_dependency_up',
    help: '1 when the dependency answers (redis, postgres; memory in the embedded mode)',
    labelNames: ['dependency'],
    registers: [],
    async collect () {
      const probe = async (name: string, fn: (() => Promise<void>) | undefined): Promise<void> => {
        if (!fn) return
        this.set({ dependency: name }, await fn().then(() => 1, () => 0))
      }
      await Promise.all([probe(app.broker?.kind ?? 'broker', app.broker?.ping), probe(app.store?.kind ?? 'store', app.store?.ping)])
    }
  }))

  let n = 0
  const deliveredByType = new Map<string, ReturnType<typeof delivered.labels>>()
  const metrics: Metrics = {
    registry,
    observer: {
      delivered (message, count) {
        if (count === 0) return
        // One child counter per type, looked up once: labelled inc() hashes its labels on every call.
        const type = typeOf(message)
        let child = deliveredByType.get(type)
        if (child === undefined) { child = delivered.labels(type); deliveredByType.set(type, child) }
        child.inc(count)
        if (++n % SAMPLE_EVERY !== 0) return
        const ts = TIMESTAMP.exec(message.toString('latin1', 0, 256))
        if (ts) latency.observe(Math.max(0, Date.now() / 1000 - Number(ts[1])))
      },
      resumed: (outcome) => resumes.inc({ outcome }),
      closed: (reason) => closes.inc({ reason })
    },
    ingested (events, dup) {
      for (const e of events) ingestedTotal.inc({ type: e.type })
      if (dup > 0) duplicates.inc(dup)
    },
    auth: (outcome) => auth.inc({ outcome })
  }
  app.decorate('metrics', metrics)
  if (opts.serve === false) return
  const expected = opts.token
  app.get('/metrics', {
    logLevel: 'warn',
    // The metrics say who is connected how often: for the scraper, not for the public routes.
    onRequest: async (request) => {
      if (expected === undefined) return
      const given = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1]
      if (given === undefined || !sameToken(given, expected)) throw new HttpErrors.AuthFailed('/metrics needs Authorization: Bearer <METRICS_TOKEN>')
    }
  }, async (_request, reply) => {
    return await reply.type(registry.contentType).send(await registry.metrics())
  })
}, { name: 'metrics', fastify: '5.x' })
