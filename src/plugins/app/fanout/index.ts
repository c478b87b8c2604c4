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
  /** The one channel every instance listens to for instructions (revocations); other services may publish to it. */
  readonly controlChannel: string
  publishControl: (message: string) => Promise<void>
  /** Adds a listener of the control channel. */
  onControl: (handler: (message: string) => void) => void
}

declare module 'fastify' {
  interface FastifyInstance { broker: Broker, registry: ConnectionRegistry, fanout: Fanout }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  const controlChannel = `${config.keyPrefix}control`
  const controlHandlers: Array<(message: string) => void> = []
  // Messages only flow after a subscription, by which time `registry` exists.
  const onMessage = (channel: string, message: string): void => {
    if (channel !== controlChannel) registry.onBrokerMessage(channel, message)
    else for (const handler of controlHandlers) handler(message)
  }
  const broker = app.redis ? createRedisBroker(app.redis, onMessage) : createMemoryBroker(onMessage)
  const registry = new ConnectionRegistry(broker, config.keyPrefix)
  // One fixed channel, subscribed once at boot: no pattern subscription, no per-message cost.
  await broker.subscribe(controlChannel)

  app.decorate('broker', broker)
  app.decorate('registry', registry)
  app.decorate('fanout', {
    publish: (userId, frame) => broker.publish(userChannel(config.keyPrefix, userId), frame),
    channelOf: (userId) => userChannel(config.keyPrefix, userId),
    controlChannel,
    publishControl: (message) => broker.publish(controlChannel, message),
    onControl: (handler) => { controlHandlers.push(handler) }
  })
  // Sockets go first (see websocket preClose), then the broker, then (registered earlier) the connections.
  app.addHook('onClose', async () => { await broker.close() })
}, { name: 'fanout', fastify: '5.x' })
