// Redis connections (production mode): one for commands and publishing, one dedicated to (S)SUBSCRIBE; single server or cluster.
import fp from 'fastify-plugin'
import { Cluster, Redis } from 'ioredis'
import type { Config } from '../../config.js'

export type RedisClient = Redis | Cluster
/** For typing commands that other modules add with `defineCommand`, without importing ioredis themselves. */
export type { Result } from 'ioredis'

export interface RedisConnections {
  command: RedisClient
  subscriber: RedisClient
  /** Cluster mode: channels are shard channels (SSUBSCRIBE / SPUBLISH), each in its user's slot. */
  sharded: boolean
  /** A further connection of the same kind, for a blocking reader. */
  connect: (name: string) => Promise<RedisClient>
}

declare module 'fastify' {
  interface FastifyInstance {
    redis?: RedisConnections
  }
}

/** QUIT, but never wait on a dead server for longer than `ms`: shutdown must be bounded. */
export async function quitWithTimeout (client: RedisClient, ms = 1000): Promise<void> {
  if (client.status === 'end') return
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })
  try {
    await Promise.race([client.quit().then(() => undefined, () => undefined), timeout])
  } finally {
    clearTimeout(timer)
    client.disconnect()
  }
}

/**
 * One read of a connection's socket per turn of the event loop. libuv reads a readable socket up to 32 times in a
 * row, 64 KB each: a subscriber that fell behind would hand the fanout thousands of messages in one synchronous
 * burst, and every timer, pong and client socket of the instance would wait behind it. Pausing after each chunk
 * and resuming on the next turn lets the rest of the loop in between; the unread bytes wait in the kernel. Neither
 * ioredis nor Node bounds this, hence by hand: a 'data' listener beside ioredis's parser, on every new stream.
 */
export function oneReadPerTurn (client: Redis): void {
  // 'connect' comes once per new stream (a reconnect makes a new one). A paused stream emits no further 'data'
  // until resumed, so each chunk schedules exactly one resume.
  client.on('connect', () => {
    const stream = client.stream
    const resume = (): void => { stream.resume() }
    stream.on('data', () => {
      stream.pause()
      setImmediate(resume)
    })
  })
}

/**
 * The commands the broker's publish writes itself, in one corked write (`corked`), outside auto-pipelining: an
 * ioredis pipeline keeps its commands, and the frames in them, alive past two scavenges (in a stand-alone test of
 * RPUSH + PUBLISH of 800-byte frames at 4,000 commands a second, 20 MB of 75 MB allocated was promoted to the old
 * generation in 5 s through pipelines, 5 MB sent as plain commands), and the gateway paid for it in major GCs.
 */
export const CORKED_COMMANDS = ['rpush', 'publish', 'pexpire', 'ltrim'] as const

/**
 * Runs `write`, whose commands leave in one write: the connection's socket is corked while they are written and
 * uncorked after. A cluster routes each command to its node's connection, whose auto-pipelining groups them.
 */
export function corked<T> (client: RedisClient, write: () => T): T {
  const stream = client instanceof Redis && client.status === 'ready' ? client.stream : undefined
  stream?.cork()
  try {
    return write()
  } finally {
    stream?.uncork()
  }
}

export default fp<{ redis: NonNullable<Config['redis']> }>(async (app, { redis }) => {
  const make = (name: string): RedisClient => {
    const common = {
      connectionName: name,
      lazyConnect: true,
      // Many publishes in one tick go out as one write.
      enableAutoPipelining: name === 'aeg-command',
      // Not in a cluster, where they are routed per node and auto-pipelined there.
      autoPipeliningIgnoredCommands: redis.clusterNodes ? [] : [...CORKED_COMMANDS],
      maxRetriesPerRequest: 3
    }
    const client: RedisClient = redis.clusterNodes
      ? new Cluster(redis.clusterNodes, { lazyConnect: true, shardedSubscribers: name === 'aeg-subscriber', enableAutoPipelining: common.enableAutoPipelining, redisOptions: common })
      : new Redis(redis.url!, common)
    client.on('error', (err: Error) => app.log.warn({ err: { message: err.message }, redis: name }, 'redis connection error'))
    // A cluster's shard subscribers are connections of its own making, out of reach here.
    if (name === 'aeg-subscriber' && client instanceof Redis) oneReadPerTurn(client)
    return client
  }
  const connect = async (name: string): Promise<RedisClient> => {
    const client = make(name)
    try {
      await client.connect()
    } catch (err) {
      client.disconnect()
      throw new Error(`cannot reach Redis at ${redis.clusterNodes ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL'}: ${(err as Error).message}`)
    }
    return client
  }
  const command = await connect('aeg-command')
  const subscriber = await connect('aeg-subscriber').catch((err: unknown) => { command.disconnect(); throw err })
  app.decorate('redis', { command, subscriber, sharded: Boolean(redis.clusterNodes), connect })
  app.addHook('onClose', async () => {
    await Promise.all([quitWithTimeout(subscriber), quitWithTimeout(command)])
  })
}, { name: 'redis', fastify: '5.x' })
