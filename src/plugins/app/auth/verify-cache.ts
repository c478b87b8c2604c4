// Caching and single flight in front of a slow verifier: one call per token however many sockets present it at once.
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { systemClock, type Clock } from '../../../clock.js'
import { AuthError } from '../../../errors.js'
import type { Identity, TokenVerifier } from './identity.js'

export interface CacheOptions {
  /** Longest life of an entry; 0 turns the cache off (single flight stays). */
  ttlS: number
  max: number
  /** How long a refusal (AUTH_FAILED) is remembered, so junk tokens repeated cost one call; 0: not at all. */
  failureTtlS?: number
  /** A verifier that refuses tokens issued longer ago than this: an entry does not outlive that age either. */
  maxTokenAgeS?: number
}

/** Clocks the lru-cache TTLs run on: ours, read on every check (a cached reading would miss a step of the clock). */
export function lruClock (clock: Clock): { perf: Clock, ttlResolution: number } {
  return { perf: clock, ttlResolution: 0 }
}

export interface VerifyStats { hits: number, misses: number, joined: number }

export interface CachedVerifier extends TokenVerifier {
  readonly stats: Readonly<VerifyStats>
  readonly size: number
}

/** The cache never holds a token, only its digest: a heap dump or a log of keys shows no credential. */
function digest (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

export function withCache (inner: TokenVerifier, opts: CacheOptions, clock: Clock = systemClock): CachedVerifier {
  const cache = opts.ttlS > 0 ? new LRUCache<string, Identity>({ max: opts.max, ...lruClock(clock) }) : undefined
  const failureTtlMs = (opts.failureTtlS ?? 0) * 1000
  // Only verdicts on the token are remembered: an outage must not keep a good token out once the service is back.
  const refused = failureTtlMs > 0 ? new LRUCache<string, AuthError>({ max: opts.max, ttl: failureTtlMs, ...lruClock(clock) }) : undefined
  const flights = new Map<string, Promise<Identity>>()
  const stats: VerifyStats = { hits: 0, misses: 0, joined: 0 }

  return {
    stats,
    get size () { return cache?.size ?? 0 },
    verify (token) {
      const key = digest(token)
      const hit = cache?.get(key)
      if (hit !== undefined) {
        stats.hits++
        return Promise.resolve(hit)
      }
      const refusal = refused?.get(key)
      if (refusal !== undefined) {
        stats.hits++
        return Promise.reject(refusal)
      }
      const flying = flights.get(key)
      if (flying !== undefined) {
        stats.joined++
        return flying
      }
      stats.misses++
      const flight = inner.verify(token).then((identity) => {
        // An entry never outlives the token: a cached proof must not let an expired (or too old) token in.
        const now = clock.now()
        const untilExpiry = identity.expiresAt === undefined ? Infinity : identity.expiresAt * 1000 - now
        const untilTooOld = opts.maxTokenAgeS === undefined || identity.issuedAt === undefined ? Infinity : (identity.issuedAt + opts.maxTokenAgeS) * 1000 - now
        const ttl = Math.min(opts.ttlS * 1000, untilExpiry, untilTooOld)
        if (cache !== undefined && ttl >= 1) cache.set(key, identity, { ttl: Math.floor(ttl) })
        return identity
      }, (err: unknown) => {
        if (err instanceof AuthError && err.code === 'AUTH_FAILED') refused?.set(key, err)
        throw err
      }).finally(() => flights.delete(key))
      flights.set(key, flight)
      return flight
    },
    close: async () => {
      cache?.clear()
      refused?.clear()
      await inner.close?.()
    }
  }
}
