// Production backends: Redis for pub/sub, tickets, revocations, socket leases and runs; PostgreSQL for the event log.
import type { PgPool } from '../../external/postgres.js'
import type { RedisConnections } from '../../external/redis.js'
import { createRedisRevocations } from '../auth/revocations.js'
import { createRedisTickets } from '../auth/tickets.js'
import { createRedisBroker } from '../fanout/redis-broker.js'
import { createRedisRunQueue } from '../runs/queue.js'
import { createRedisSocketCap } from '../sessions/socket-cap.js'
import { migrate } from '../store/migrate.js'
import { createPgStore } from '../store/pg-store.js'
import { createPgThreads } from '../store/threads.js'
import type { BackendContext, Backends } from './backends.js'

export async function productionBackends (redis: RedisConnections, pg: PgPool, { config, log, clock }: BackendContext): Promise<Backends> {
  const { keyPrefix: prefix, history } = config
  if (config.database?.migrateOnBoot) {
    const { from, to } = await migrate(pg, config.database.schema)
    if (from !== to) log.info({ from, to }, 'database migrated')
  }
  const store = createPgStore(pg)
  // Today's partition and the next days' exist before the first event arrives.
  await store.maintain()
  const command = redis.command
  return {
    mode: config.mode,
    store,
    threads: createPgThreads(pg),
    tickets: createRedisTickets(command, prefix, clock),
    revocations: createRedisRevocations(command, prefix),
    socketCap: createRedisSocketCap(command, {
      prefix,
      instanceId: config.instanceId,
      max: config.session.maxSocketsPerUser,
      onError: (err) => log.warn({ err }, 'socket lease renewal failed')
    }),
    broker: (onMessage) => createRedisBroker(redis, onMessage, prefix, { size: history.size, ttlMs: history.ttlMs }, clock),
    runQueue: () => createRedisRunQueue(command, prefix),
    reconnectSubscriber: () => redis.subscriber.disconnect(true),
    // XREADGROUP BLOCK holds its connection: the stream reader gets one of its own.
    ingestStream: config.ingest.stream ? { command, connect: () => redis.connect('aeg-stream-reader') } : undefined
  }
}
