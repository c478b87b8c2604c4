// Single-use WebSocket tickets for browsers that cannot send headers: in Redis (any instance consumes) or in memory.
import { randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { systemClock, type Clock } from '../../../clock.js'
import type { RedisClient } from '../../external/redis.js'
import type { Identity } from './identity.js'
import { lruClock } from './verify-cache.js'

export interface IssuedTicket { id: string, createdAt: number, expiresAt: number, ttlS: number }

export interface TicketStore {
  readonly kind: 'memory' | 'redis'
  /** Stores the identity under a fresh id for `ttlS` seconds. */
  issue: (identity: Identity, ttlS: number) => Promise<IssuedTicket>
  /** The identity behind the ticket, deleted in the same step: a second use finds nothing. */
  consume: (id: string) => Promise<Identity | undefined>
}

// 32 random bytes in base64url, like the platform's secrets.token_urlsafe(32): 43 characters.
const TICKET_ID = /^[A-Za-z0-9_-]{43}$/

export function newTicketId (): string {
  return randomBytes(32).toString('base64url')
}

/** The platform used `auth:ticket:<id>`; ours sits under REDIS_KEY_PREFIX so deployments sharing a Redis stay apart. */
export function ticketKey (prefix: string, id: string): string {
  return `${prefix}auth:ticket:${id}`
}

function issued (ttlS: number, clock: Clock): IssuedTicket {
  const createdAt = clock.now() / 1000
  return { id: newTicketId(), createdAt, expiresAt: createdAt + ttlS, ttlS }
}

function parse (raw: string | null): Identity | undefined {
  if (raw === null) return undefined
  try {
    const value = JSON.parse(raw) as Identity
    return typeof value.userId === 'string' && value.userId !== '' ? Object.freeze(value) : undefined
  } catch {
    return undefined
  }
}

export function createRedisTickets (redis: RedisClient, prefix: string, clock: Clock = systemClock): TicketStore {
  return {
    kind: 'redis',
    async issue (identity, ttlS) {
      const ticket = issued(ttlS, clock)
      // NX: an id collision (2^-256) would rather fail than hand one user's ticket to another.
      const ok = await redis.set(ticketKey(prefix, ticket.id), JSON.stringify(identity), 'PX', ttlS * 1000, 'NX')
      if (ok !== 'OK') throw new Error('ticket id collision')
      return ticket
    },
    async consume (id) {
      if (!TICKET_ID.test(id)) return undefined
      // GETDEL is atomic: two sockets racing with one ticket get it once.
      return parse(await redis.getdel(ticketKey(prefix, id)))
    }
  }
}

export function createMemoryTickets (max = 100_000, clock: Clock = systemClock): TicketStore {
  const tickets = new LRUCache<string, string>({ max, ...lruClock(clock) })
  return {
    kind: 'memory',
    async issue (identity, ttlS) {
      const ticket = issued(ttlS, clock)
      tickets.set(ticket.id, JSON.stringify(identity), { ttl: ttlS * 1000 })
      return ticket
    },
    async consume (id) {
      if (!TICKET_ID.test(id)) return undefined
      const raw = tickets.get(id)
      tickets.delete(id)
      return parse(raw ?? null)
    }
  }
}
