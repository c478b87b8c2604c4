// The per-user socket cap across instances: a Redis sorted set of leased connection ids per user, or a map in memory.

// Why a sorted set scored by lease expiry: each instance renews its sockets' leases while they live, so a crashed
// instance's sockets stop counting once their leases lapse. A plain counter (INCR/DECR) would keep them forever.
import { lingering } from '../../../linger.js'
import type { RedisClient, Result } from '../../external/redis.js'

export interface SocketCap {
  /** Takes a slot for this socket; false when the user already holds `max`. */
  acquire: (userId: string, connId: string) => Promise<boolean>
  release: (userId: string, connId: string) => Promise<void>
  /** Sockets the user holds across all instances (leases still running). */
  count: (userId: string) => Promise<number>
  close: () => Promise<void>
}

declare module 'ioredis' {
  interface RedisCommander<Context> {
    aegCapAcquire: (key: string, member: string, max: number, leaseMs: number) => Result<number, Context>
    /** One user's set (a declared key, so that a cluster routes the call by it), then RENEW's arguments. */
    aegCapRenew: (key: string, ...args: Array<string | number>) => Result<number, Context>
    aegCapRenewMany: (numKeys: number, ...keysThenArgs: Array<string | number>) => Result<number, Context>
  }
}

// Redis's clock, not each instance's: leases from different hosts compare on one time line.
const NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"
const ACQUIRE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`
// Renews the leases of many users' sockets in one call: KEYS their sets, ARGV the lease and the members' prefix
// (the instance), then per key its count n and n connection ids. The prefix is joined here, not in the call:
// a member string per socket, built for every renewal and held until Redis answered, lived long enough to be
// promoted (the heap kept 0.3-0.9 MB more past a scavenge at each renewal, at 5,000 sockets an instance).
const RENEW = `${NOW}
local lease = tonumber(ARGV[1])
local prefix = ARGV[2]
local at = 3
for k = 1, #KEYS do
  local n = tonumber(ARGV[at])
  for i = 1, n do redis.call('ZADD', KEYS[k], now + lease, prefix .. ARGV[at + i]) end
  redis.call('PEXPIRE', KEYS[k], lease)
  at = at + n + 1
end
return 1`

/** How long a socket counts without a renewal, and how often renewals run (three chances per lease). */
export const LEASE_MS = 30_000
const RENEW_BATCH = 200

export function capKey (prefix: string, userId: string): string {
  return `${prefix}sockets:{${userId}}`
}

export function createRedisSocketCap (redis: RedisClient, opts: { prefix: string, instanceId: string, max: number, leaseMs?: number, onError: (err: unknown) => void }): SocketCap {
  const leaseMs = opts.leaseMs ?? LEASE_MS
  if (typeof redis.aegCapAcquire !== 'function') {
    redis.defineCommand('aegCapAcquire', { numberOfKeys: 1, lua: ACQUIRE })
    redis.defineCommand('aegCapRenew', { numberOfKeys: 1, lua: RENEW })
    redis.defineCommand('aegCapRenewMany', { lua: RENEW })
  }
  // The instance id in the member keeps two instances' connection ids apart and says who holds a slot.
  const memberPrefix = `${opts.instanceId}:`
  const member = (connId: string): string => memberPrefix + connId
  // Connection ids (strings the connection holds anyway), not members: a member string per socket would live as
  // long as the socket; the renewal script joins them to the prefix. A user with one socket here (most of
  // them) holds the id alone: a Set per user was about 100 bytes for one string.
  const local = new Map<string, string | Set<string>>()
  const idsOf = (held: string | Set<string>): string[] => typeof held === 'string' ? [held] : [...held]
  const releasing = new Set<Promise<number>>()

  // In batches of RENEW_BATCH users with a turn of the event loop between them: thousands of users renewed in
  // one synchronous loop would hold up delivery the way a sweep over every socket did.
  let renewing = false
  const renew = async (): Promise<void> => {
    if (local.size === 0 || renewing) return
    renewing = true
    try {
      const users = [...local.keys()]
      for (let i = 0; i < users.length; i += RENEW_BATCH) {
        if (i > 0) await new Promise((resolve) => setImmediate(resolve))
        const held = users.slice(i, i + RENEW_BATCH).flatMap((userId) => {
          const ids = local.get(userId)
          return ids === undefined ? [] : [{ key: capKey(opts.prefix, userId), ids: idsOf(ids) }]
        })
        const args = (part: typeof held): Array<string | number> => [leaseMs, memberPrefix, ...part.flatMap(({ ids }) => [ids.length, ...ids])]
        // One script call for the whole batch on one server: a call per user was most of a quiet instance's
        // Redis commands (and of Redis's own work). A cluster keeps each user's set on its user's slot, and a
        // pipeline cannot span slots: there, a call per user, which auto-pipelining groups per node.
        if (redis.isCluster) for (const one of held) redis.aegCapRenew(one.key, ...args([one])).catch(opts.onError)
        else if (held.length > 0) redis.aegCapRenewMany(held.length, ...held.map(({ key }) => key), ...args(held)).catch(opts.onError)
      }
    } finally {
      renewing = false
    }
  }
  const timer = setInterval(() => { renew().catch(opts.onError) }, Math.max(10, Math.floor(leaseMs / 3)))
  timer.unref()
  // Every connect takes a slot: the takes of connects close together leave in one write.
  const take = lingering(([userId, connId]: [string, string]) => redis.aegCapAcquire(capKey(opts.prefix, userId), member(connId), opts.max, leaseMs))

  return {
    async acquire (userId, connId) {
      const ok = await take([userId, connId]) === 1
      if (ok) {
        const held = local.get(userId)
        if (held === undefined) local.set(userId, connId)
        else if (typeof held === 'string') local.set(userId, new Set([held, connId]))
        else held.add(connId)
      }
      return ok
    },
    async release (userId, connId) {
      const held = local.get(userId)
      if (held === undefined) return
      if (typeof held === 'string') {
        if (held !== connId) return
        local.delete(userId)
      } else {
        if (!held.delete(connId)) return
        if (held.size === 1) local.set(userId, held.values().next().value!)
      }
      const removal = redis.zrem(capKey(opts.prefix, userId), member(connId))
      releasing.add(removal)
      try { await removal } finally { releasing.delete(removal) }
    },
    async count (userId) {
      const now = Date.now()
      return await redis.zcount(capKey(opts.prefix, userId), now, '+inf')
    },
    async close () {
      clearInterval(timer)
      // A graceful shutdown gives its slots back at once instead of letting the leases lapse; bounded, like every shutdown step.
      // Releases already sent (sockets closed by the shutdown) are awaited too, before Redis is quit.
      // A command per user, not one pipeline: on a cluster a pipeline cannot span slots (auto-pipelining still
      // sends them together, per node).
      const removals = Array.from(local, ([userId, ids]) => redis.zrem(capKey(opts.prefix, userId), ...idsOf(ids).map(member)).catch(opts.onError))
      local.clear()
      let timeout: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.allSettled([...removals, ...releasing]),
        new Promise((resolve) => { timeout = setTimeout(resolve, 1000) })
      ]).finally(() => clearTimeout(timeout))
    }
  }
}

export function createMemorySocketCap (max: number): SocketCap {
  const held = new Map<string, Set<string>>()
  return {
    async acquire (userId, connId) {
      const set = held.get(userId) ?? new Set()
      if (set.size >= max) return false
      set.add(connId)
      held.set(userId, set)
      return true
    },
    async release (userId, connId) {
      const set = held.get(userId)
      if (set?.delete(connId) && set.size === 0) held.delete(userId)
    },
    async count (userId) { return held.get(userId)?.size ?? 0 },
    async close () { held.clear() }
  }
}
