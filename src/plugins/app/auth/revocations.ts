// Revoked users and token ids, remembered so a revoked token cannot simply reconnect: in Redis (all instances) or memory.
import { LRUCache } from 'lru-cache'
import { lingering } from '../../../linger.js'
import type { RedisClient } from '../../external/redis.js'
import type { Identity } from './identity.js'

export type RevocationTarget = { userId: string } | { jti: string }

export interface RevocationStore {
  /** Remembers the revocation for `ttlS` seconds; `atMs` is when it happened. */
  record: (target: RevocationTarget, atMs: number, ttlS: number) => Promise<void>
  /** Whether the token behind this identity has been revoked. */
  isRevoked: (identity: Identity) => Promise<boolean>
}

/**
 * A user-wide revocation refuses the tokens issued up to that moment (iat is in whole seconds, so a token minted
 * in the same second is refused too); a token without iat cannot prove it is newer, so it is refused as well.
 */
export function revokedBy (identity: Identity, userRevokedAtMs: number | undefined, jtiRevoked: boolean): boolean {
  if (jtiRevoked) return true
  if (userRevokedAtMs === undefined) return false
  return identity.issuedAt === undefined || identity.issuedAt * 1000 <= userRevokedAtMs
}

export function createRedisRevocations (redis: RedisClient, prefix: string): RevocationStore {
  // The braces hash-tag the user, as the user's channel does.
  const userKey = (userId: string): string => `${prefix}auth:revoked:user:{${userId}}`
  const jtiKey = (jti: string): string => `${prefix}auth:revoked:jti:${jti}`
  // Every connect reads these: the reads of connects close together leave in one write (and one read for Redis).
  const get = lingering((key: string) => redis.get(key))
  // On one server both keys in one command; a cluster keeps them on different slots, where it is one GET each.
  const both = lingering(([user, jti]: [string, string]) => redis.mget(user, jti))
  return {
    async record (target, atMs, ttlS) {
      if ('userId' in target) await redis.set(userKey(target.userId), String(atMs), 'EX', ttlS)
      else await redis.set(jtiKey(target.jti), String(atMs), 'EX', ttlS)
    },
    async isRevoked (identity) {
      const keys = identity.jti === undefined ? undefined : [userKey(identity.userId), jtiKey(identity.jti)] as [string, string]
      // A token without jti only checks its user.
      const [user, jti] = keys === undefined
        ? [await get(userKey(identity.userId)), null]
        : redis.isCluster ? await Promise.all(keys.map(get)) : await both(keys)
      const userAt = user === null ? undefined : Number(user)
      return revokedBy(identity, userAt, jti !== null)
    }
  }
}

export function createMemoryRevocations (max = 100_000): RevocationStore {
  const users = new LRUCache<string, number>({ max })
  const jtis = new LRUCache<string, number>({ max })
  return {
    async record (target, atMs, ttlS) {
      if ('userId' in target) users.set(target.userId, atMs, { ttl: ttlS * 1000 })
      else jtis.set(target.jti, atMs, { ttl: ttlS * 1000 })
    },
    async isRevoked (identity) {
      return revokedBy(identity, users.get(identity.userId), identity.jti !== undefined && jtis.has(identity.jti))
    }
  }
}
