// The broker contract: per-user channels, published to by any instance, subscribed to by the instances holding that user.
export type BrokerMessageHandler = (channel: string, message: string) => void

export interface Broker {
  readonly kind: 'memory' | 'redis'
  /** Publishes one serialized frame; resolves once the broker has taken it. */
  publish: (channel: string, message: string) => Promise<void>
  /** Resolves once the broker has acknowledged the subscription: later publications will arrive. */
  subscribe: (channel: string) => Promise<void>
  unsubscribe: (channel: string) => Promise<void>
  /** Resolves when the broker answers; readiness uses it. */
  ping: () => Promise<void>
  close: () => Promise<void>
}

/** The channel of one user. The braces hash-tag the user, so a cluster keeps the user's keys in one slot. */
export function userChannel (prefix: string, userId: string): string {
  return `${prefix}user:{${userId}}`
}
