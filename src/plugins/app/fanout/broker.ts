// The broker contract: per-user channels with a bounded hot history, published to by any instance.
/** Messages arrive as the bytes Redis sent: forwarded to sockets as they are, never decoded and re-encoded per socket. */
export type BrokerMessageHandler = (channel: string, message: Buffer) => void

export interface HistoryLimits {
  /** Most frames kept per user. */
  size: number
  /** How long a user's history is kept after their last event, in milliseconds. */
  ttlMs: number
}

/** One event's wire frame, with the user and offset it is published under. */
export interface PublishedFrame { userId: string, seq: number, frame: string }

export interface Broker {
  readonly kind: 'memory' | 'redis'
  /**
   * Adds events' frames to their users' hot history and publishes them, each user's in the order given.
   * `ifMissing`: a repeat (duplicates and relayed groups, whose first publish may or may not have happened): what is
   * in the history already may be left out, what is not is published; receivers drop an offset they have delivered.
   */
  publishEvents: (events: PublishedFrame[], ifMissing?: boolean) => Promise<void>
  /** Frames of the user's hot history with from <= seq <= to, ascending and each once; may be missing some. */
  history: (userId: string, from: number, to: number) => Promise<string[]>
  /** Publishes a frame that is not part of the stream (control messages). */
  publish: (channel: string, message: string) => Promise<void>
  /** Resolves once the broker has acknowledged the subscription: later publications will arrive. */
  subscribe: (channel: string) => Promise<void>
  unsubscribe: (channel: string) => Promise<void>
  /** Resolves when the broker answers; readiness uses it. */
  ping: () => Promise<void>
  /** Called after the broker lost and regained its connection: messages may have been missed meanwhile. */
  onReconnect: (listener: () => void) => void
  close: () => Promise<void>
}

/** The channel of one user. The braces hash-tag the user, so a cluster keeps the user's keys in one slot. */
export function userChannel (prefix: string, userId: string): string {
  return `${prefix}user:{${userId}}`
}

/**
 * The user's hot history: a list appended without a script (`recent:`). Earlier versions' keys expire by themselves:
 * the list kept contiguous by a script (`hot:`) and the sorted set before it (`hist:`). Each version reads only its
 * own, so versions can run side by side during a rolling deploy.
 */
export function historyKey (prefix: string, userId: string): string {
  return `${prefix}recent:{${userId}}`
}
