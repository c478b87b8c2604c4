// What the backends plugin hands the capabilities: one implementation of each store, queue and broker, chosen together.
import type { Clock } from '../../../clock.js'
import type { FastifyBaseLogger } from 'fastify'
import type { RunRequest } from '../../../agent/protocol.js'
import type { Config } from '../../../config.js'
import type { RedisClient } from '../../external/redis.js'
import type { RevocationStore } from '../auth/revocations.js'
import type { TicketStore } from '../auth/tickets.js'
import type { Broker, BrokerMessageHandler } from '../fanout/broker.js'
import type { RunQueue } from '../runs/queue.js'
import type { SocketCap } from '../sessions/socket-cap.js'
import type { EventStore } from '../store/store.js'
import type { ThreadStore } from '../store/threads.js'

/** What the chosen backends give the capabilities; each capability takes its part and owns its lifecycle. */
export interface Backends {
  readonly mode: Config['mode']
  readonly store: EventStore
  readonly threads: ThreadStore
  readonly tickets: TicketStore
  readonly revocations: RevocationStore
  /** The per-user socket cap across instances; sessions closes it. */
  readonly socketCap: SocketCap
  /** The broker, given where its messages go (the fanout's router); fanout closes it. */
  broker: (onMessage: BrokerMessageHandler) => Broker
  /** Where run requests go: agent workers, or (embedded) the in-process agent given here. */
  runQueue: (agent: (request: RunRequest, stopped: () => boolean) => void) => RunQueue
  /** Drops and reopens the subscriber, where pub/sub can go deaf while looking connected (Redis); none in-process. */
  readonly reconnectSubscriber?: () => void
  /** The ingest stream's connections, when the stream is configured (production mode only). */
  readonly ingestStream?: { command: RedisClient, connect: () => Promise<RedisClient> }
}

export interface BackendContext { config: Config, log: FastifyBaseLogger, clock: Clock }
