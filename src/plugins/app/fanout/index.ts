// The fanout plugin: wires the chosen broker (Redis or in-process), with history, to the registry.
import fp from 'fastify-plugin'
import type { Config } from '../../../config.js'
import { seqOf, toWire } from '../../../events/envelope.js'
import type { StoredEvent } from '../store/store.js'
import { userChannel, type Broker } from './broker.js'
import type { StreamSource } from './cursor.js'
import { DeliveryMetrics } from './delivery-metrics.js'
import { Liveness } from './liveness.js'
import { Watchdog } from './watchdog.js'
import { ConnectionRegistry } from './registry.js'

export interface Fanout {
  /**
   * Adds a committed group's events to their users' hot history and publishes them, whichever instance holds their
   * sockets: in the order given (offset order per user); see Broker.
   */
  publishMany: (events: StoredEvent[], ifMissing?: boolean) => Promise<void>
  channelOf: (userId: string) => string
  /** The one channel every instance listens to for instructions (revocations); other services may publish to it. */
  readonly controlChannel: string
  publishControl: (message: string) => Promise<void>
  /** Adds a listener of the control channel. */
  onControl: (handler: (message: string) => void) => void
}

declare module 'fastify' {
  interface FastifyInstance { broker: Broker, registry: ConnectionRegistry, fanout: Fanout, liveness: Liveness, watchdog?: Watchdog }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  const { keyPrefix: prefix, history } = config
  const controlChannel = `${prefix}control`
  const controlHandlers: Array<(message: string) => void> = []
  // Messages only flow after a subscription, by which time `registry` exists.
  const probeChannel = `${prefix}probe:{${config.instanceId}}`
  const onMessage = (channel: string, message: Buffer): void => {
    if (channel === controlChannel) for (const handler of controlHandlers) handler(message.toString())
    else if (channel === probeChannel) watchdog?.seen()
    else registry.onBrokerMessage(channel, message)
  }
  const broker = app.backends.broker(onMessage)

  const source: StreamSource = {
    position: (userId) => app.store.position(userId),
    earliest: (userId) => app.store.earliest(userId),
    async frames (userId, from, to) {
      // The hot history answers when it holds the whole range; anything older comes from the durable log.
      const hot = await broker.history(userId, from, to).catch(() => [])
      if (hot.length === to - from + 1 && seqOf(hot[0]!) === from) return hot.map((f) => Buffer.from(f))
      return (await app.store.range(userId, from, to, to - from + 1)).map((e) => Buffer.from(toWire(e)))
    }
  }
  const registry = new ConnectionRegistry(broker, source, { prefix, maxBacklog: history.maxBacklog, maxBufferedBytes: config.ws.maxBufferedBytes, observer: new DeliveryMetrics(app.metrics) })
  app.metrics.gauge('aeg_sockets', 'Open, registered WebSockets on this instance', () => registry.connectionCount)
  app.metrics.gauge('aeg_users', 'Users with at least one socket on this instance', () => registry.userCount)
  app.metrics.dependency(broker.kind, () => broker.ping())
  broker.onReconnect(() => {
    app.log.warn('broker reconnected: catching every local socket up from history')
    registry.resync().catch((err: unknown) => app.log.error({ err }, 'resync after broker reconnect failed'))
  })
  // One fixed channel, subscribed once at boot: no pattern subscription, no per-message cost.
  await broker.subscribe(controlChannel)
  // In-process delivery cannot go deaf; Redis pub/sub can (a wedged subscriber still looks connected).
  const reconnect = app.backends.reconnectSubscriber
  const watchdog = reconnect && config.watchdogIntervalMs > 0
    ? new Watchdog({
      intervalMs: config.watchdogIntervalMs,
      misses: 3,
      publish: (probe) => broker.publish(probeChannel, probe),
      reconnect,
      warn: (message) => app.log.warn(message)
    })
    : undefined
  if (watchdog) {
    await broker.subscribe(probeChannel)
    watchdog.start()
    app.decorate('watchdog', watchdog)
  }

  const liveness = new Liveness(registry, {
    pingIntervalS: config.ws.heartbeatIntervalS,
    idleHeartbeatS: config.ws.idleHeartbeatS,
    maxAgeS: config.ws.maxAgeS,
    reconnectJitterS: config.ws.reconnectJitterS,
    onError: (err) => app.log.error({ err }, 'liveness check failed')
  })
  liveness.start()
  app.decorate('liveness', liveness)
  app.decorate('broker', broker)
  app.decorate('registry', registry)
  app.decorate('fanout', {
    publishMany: (events, ifMissing) => broker.publishEvents(events.map((e) => ({ userId: e.context.user_id, seq: e.seq, frame: toWire(e) })), ifMissing),
    channelOf: (userId) => userChannel(prefix, userId),
    controlChannel,
    publishControl: (message) => broker.publish(controlChannel, message),
    onControl: (handler) => { controlHandlers.push(handler) }
  })
  app.addHook('onClose', async () => {
    liveness.stop()
    watchdog?.stop()
    await broker.close()
  })
}, { name: 'fanout', fastify: '5.x', dependencies: ['metrics', 'backends', 'store'] })
