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
   * Adds events' frames to their users' hot history and publishes them, in one step and the order given.
   * `ifMissing`: only those whose offset is not in the history yet (duplicates and relayed groups, whose first
   * publish may or may not have happened).
   */
  publishEvents: (events: PublishedFrame[], ifMissing?: boolean) => Promise<void>
  /** Frames of the user's hot history with from <= seq <= to, ascending; may be missing the older ones. */
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

/** The user's hot history: a list (`hot:`; the sorted sets of earlier versions were `hist:`, and expire by themselves). */
export function historyKey (prefix: string, userId: string): string {
  return `${prefix}hot:{${userId}}`
}
