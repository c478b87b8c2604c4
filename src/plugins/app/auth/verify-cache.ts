// Caching and single flight in front of a slow verifier: one call per token however many sockets present it at once.
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Identity, TokenVerifier } from './identity.js'

export interface CacheOptions {
  /** Longest life of an entry; 0 turns the cache off (single flight stays). */
  ttlS: number
  max: number
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

export function withCache (inner: TokenVerifier, opts: CacheOptions): CachedVerifier {
  const cache = opts.ttlS > 0 ? new LRUCache<string, Identity>({ max: opts.max }) : undefined
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
      const flying = flights.get(key)
      if (flying !== undefined) {
        stats.joined++
        return flying
      }
      stats.misses++
      const flight = inner.verify(token).then((identity) => {
        // An entry never outlives the token: a cached proof must not let an expired token in.
        const untilExpiry = identity.expiresAt === undefined ? Infinity : identity.expiresAt * 1000 - Date.now()
        const ttl = Math.min(opts.ttlS * 1000, untilExpiry)
        if (cache !== undefined && ttl >= 1) cache.set(key, identity, { ttl: Math.floor(ttl) })
        return identity
      }).finally(() => flights.delete(key))
      flights.set(key, flight)
      return flight
    },
    close: async () => {
      cache?.clear()
      await inner.close?.()
    }
  }
}
