// The metrics registrar and /metrics: each capability registers its own series; one registry per app, no user data in labels.
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { HttpErrors } from '../../errors.js'
import { secretMatcher } from '../../secret.js'

export type Labels = Record<string, string>

/** A counter a capability increments itself (prom-client's, seen through what the capabilities need). */
export interface CounterMetric {
  inc: ((value?: number) => void) & ((labels: Labels, value?: number) => void)
  /** The child of one label value: labelled inc() hashes its labels on every call, a child does not. */
  labels: (...values: string[]) => { inc: (value?: number) => void }
}

export interface HistogramMetric { observe: (value: number) => void }

/**
 * The registrar. Capabilities register what they count when they register themselves, so this plugin knows none
 * of them and reads nothing of theirs at scrape time but the callbacks they gave it.
 */
export class Metrics {
  readonly registry = new Registry()
  /** Each dependency's probe, in the order registered; they share one gauge, labelled by dependency. */
  private readonly probes: Array<{ name: string, ping: () => Promise<void> }> = []

  constructor () {
    collectDefaultMetrics({ register: this.registry, prefix: 'aeg_' })
    const probes = this.probes
    this.registry.registerMetric(new Gauge({
      name: 'aeg_dependency_up',
      help: '1 when the dependency answers (redis, postgres; memory in the embedded mode)',
      labelNames: ['dependency'],
      registers: [],
      async collect () {
        await Promise.all(probes.map(async ({ name, ping }) => { this.set({ dependency: name }, await ping().then(() => 1, () => 0)) }))
      }
    }))
  }

  counter (name: string, help: string, labelNames: string[] = []): CounterMetric {
    return new Counter({ name, help, labelNames, registers: [this.registry] })
  }

  histogram (name: string, help: string, buckets: number[]): HistogramMetric {
    return new Histogram({ name, help, buckets, registers: [this.registry] })
  }

  /** A gauge read at scrape time: `collect` gives its value, or undefined to leave it as it was. */
  gauge (name: string, help: string, collect: () => number | undefined): void {
    this.registry.registerMetric(new Gauge({
      name,
      help,
      registers: [],
      collect () {
        const value = collect()
        if (value !== undefined) this.set(value)
      }
    }))
  }

  /** A counter its capability keeps itself, read at scrape time: one total per value of `label`, or undefined for none. */
  countedBy (name: string, help: string, label: string, collect: () => Record<string, number> | undefined): void {
    this.registry.registerMetric(new Counter({
      name,
      help,
      labelNames: [label],
      registers: [],
      collect () {
        const totals = collect()
        if (totals === undefined) return
        this.reset()
        for (const [value, total] of Object.entries(totals)) this.inc({ [label]: value }, total)
      }
    }))
  }

  /** A dependency whose health `aeg_dependency_up{dependency=name}` reports: 1 when `ping` resolves. */
  dependency (name: string, ping: () => Promise<void>): void {
    this.probes.push({ name, ping })
  }
}

declare module 'fastify' {
  interface FastifyInstance { metrics: Metrics }
}

export interface MetricsOptions {
  /** Bearer token /metrics asks for; undefined: open. */
  token?: string
  /** False: metrics are kept but /metrics is not served (production without METRICS_TOKEN). */
  serve?: boolean
}

export default fp<MetricsOptions>(async (app, opts) => {
  const metrics = new Metrics()
  app.decorate('metrics', metrics)
  if (opts.serve === false) return
  const matches = opts.token === undefined ? undefined : secretMatcher(opts.token)
  app.get('/metrics', {
    logLevel: 'warn',
    // The metrics say who is connected how often: for the scraper, not for the public routes.
    onRequest: async (request) => {
      if (matches === undefined) return
      const given = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1]
      if (given === undefined || !matches(given)) throw new HttpErrors.AuthFailed('/metrics needs Authorization: Bearer <METRICS_TOKEN>')
    }
  }, async (_request, reply) => {
    return await reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}, { name: 'metrics', fastify: '5.x' })
