// The fanout plugin: chooses the broker (Redis or in-process) in one place and wires it to the connection registry.
import fp from 'fastify-plugin'
import type { Config } from '../../../config.js'
import { userChannel, type Broker } from './broker.js'
import { createMemoryBroker } from './memory-broker.js'
import { createRedisBroker } from './redis-broker.js'
import { ConnectionRegistry } from './registry.js'

export interface Fanout {
  /** Publishes one serialized frame to a user's channel, whichever instance holds their sockets. */
  publish: (userId: string, frame: string) => Promise<void>
  channelOf: (userId: string) => string
}

declare module 'fastify' {
  interface FastifyInstance { broker: Broker, registry: ConnectionRegistry, fanout: Fanout }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  // Messages only flow after a subscription, by which time `registry` exists.
  const onMessage = (channel: string, message: string): void => registry.onBrokerMessage(channel, message)
  const broker = app.redis ? createRedisBroker(app.redis, onMessage) : createMemoryBroker(onMessage)
  const registry = new ConnectionRegistry(broker, config.keyPrefix)

  app.decorate('broker', broker)
  app.decorate('registry', registry)
  app.decorate('fanout', {
    publish: (userId, frame) => broker.publish(userChannel(config.keyPrefix, userId), frame),
    channelOf: (userId) => userChannel(config.keyPrefix, userId)
  })
  // Sockets go first (see websocket preClose), then the broker, then (registered earlier) the connections.
  app.addHook('onClose', async () => { await broker.close() })
}, { name: 'fanout', fastify: '5.x' })
