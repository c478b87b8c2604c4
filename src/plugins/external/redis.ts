// Redis connections (production mode): one for commands and publishing, one dedicated to SUBSCRIBE.
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'

export type RedisClient = Redis

declare module 'fastify' {
  interface FastifyInstance {
    redis?: { command: Redis, subscriber: Redis }
  }
}

/** QUIT, but never wait on a dead server for longer than `ms`: shutdown must be bounded. */
export async function quitWithTimeout (client: Redis, ms = 1000): Promise<void> {
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

export default fp<{ url: string }>(async (app, opts) => {
  const make = (name: string): Redis => {
    const client = new Redis(opts.url, {
      connectionName: name,
      lazyConnect: true,
      // Many publishes in one tick go out as one write.
      enableAutoPipelining: name === 'aeg-command',
      maxRetriesPerRequest: 3
    })
    client.on('error', (err) => app.log.warn({ err: { message: err.message }, redis: name }, 'redis connection error'))
    return client
  }
  const command = make('aeg-command')
  const subscriber = make('aeg-subscriber')
  try {
    await Promise.all([command.connect(), subscriber.connect()])
  } catch (err) {
    command.disconnect(); subscriber.disconnect()
    throw new Error(`cannot reach Redis at REDIS_URL: ${(err as Error).message}`)
  }
  app.decorate('redis', { command, subscriber })
  app.addHook('onClose', async () => {
    await Promise.all([quitWithTimeout(subscriber), quitWithTimeout(command)])
  })
}, { name: 'redis', fastify: '5.x' })
