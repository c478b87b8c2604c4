// @fastify/rate-limit, per client address: routes opt in with `config.rateLimit`; refusals are 429 RATE_LIMITED.
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { LRUCache } from 'lru-cache'
import { HttpErrors } from '../../errors.js'

export interface RateLimitOptions { windowMs: number }

declare module 'fastify' {
  interface FastifyInstance {
    /** Logs a refusal of `key` at info, once per address and route per window. */
    rateLimitRefused: (request: FastifyRequest, key: string) => void
  }
}

export default fp<RateLimitOptions>(async (app, opts) => {
  // One line per address and route per window, at info: a flood is worth knowing about, not worth a line a request.
  const told = new LRUCache<string, true>({ max: 10_000, ttl: opts.windowMs })
  const refused = (request: FastifyRequest, key: string): void => {
    const tag = `${request.routeOptions.url ?? ''} ${key}`
    if (told.has(tag)) return
    told.set(tag, true)
    request.log.info({ address: key, route: request.routeOptions.url }, 'client address over its rate limit')
  }
  app.decorate('rateLimitRefused', refused)
  await app.register(rateLimit, {
    global: false,
    // request.ip honours TRUST_PROXY: with no proxy trusted, X-Forwarded-For cannot pick the bucket.
    keyGenerator: (request) => request.ip,
    timeWindow: opts.windowMs,
    onExceeded: (request, key) => refused(request, key),
    errorResponseBuilder: (_request, context) => new HttpErrors.RateLimited(`too many requests from this address; retry in ${context.after}`)
  })
}, { name: 'rate-limit', fastify: '5.x' })
