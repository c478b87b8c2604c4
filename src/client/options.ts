// The client's options, its states and the events `on()` accepts: the SDK's typed surface, apart from its machinery.
import type { BackoffOptions } from './backoff.js'
import type { AgentEvent, AnyFrame, ServerFrames } from './frames.js'
import type { WebSocketConstructor } from './socket.js'
import type { Position } from './url.js'

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface StateChange {
  state: ConnectionState
  previous: ConnectionState
  /** reconnecting: the attempt about to be made (1 for the first retry) and the wait before it. */
  attempt?: number
  delayMs?: number
  /** closed: why the client stopped for good. */
  reason?: 'closed_by_client' | 'auth_failed' | 'terminal_close' | 'gave_up'
}

export interface Disconnect {
  code: number
  reason: string
  willReconnect: boolean
}

/** Every event `on()` accepts: the server's frames by type, plus the SDK's own. */
export interface ClientEvents extends ServerFrames {
  /** Every frame, known or not, before it is dispatched (duplicates included). */
  frame: AnyFrame
  /** Every new agent event, in order, once. */
  event: AgentEvent
  /** An agent event already delivered (a replay overlap), dropped. */
  duplicate: AgentEvent
  state: StateChange
  disconnect: Disconnect
  /** A 1008 that no refreshed token could fix: the client has stopped. */
  auth_failed: { code: number, reason: string }
}

export interface ClientOptions {
  /** The gateway: `wss://host/ws`, or its http(s) origin (`/ws` is added). */
  url: string
  /** A token, sent as the `jwt.<base64url>` subprotocol. */
  token?: string
  /** Instead of the token on the socket: a single-use ticket id, asked for before every attempt (see fetchTicket). */
  ticket?: (token: string | undefined) => Promise<string>
  /**
   * A fresh token, or nothing. Called when the server warns `token_expiring` (the new token is sent as
   * auth_refresh) and once after a 1008 close (the client reconnects with it; without it, it stops).
   */
  refreshToken?: () => Promise<string | null | undefined> | string | null | undefined
  /** Required in Node 20 (e.g. `ws`); defaults to the global WebSocket. */
  WebSocket?: WebSocketConstructor
  /** Reconnect backoff, or false to never reconnect. */
  reconnect?: BackoffOptions | false
  /** Where a previous session of this user's stream stopped (e.g. kept in sessionStorage). */
  resumeFrom?: Position
  /** Ping every heartbeat_interval_s and drop a socket that stays silent for two of them (default true). */
  heartbeat?: boolean
  /** How long send() and stop() wait for their answer (default 15 000 ms). */
  requestTimeoutMs?: number
  /** Frames held while disconnected (default 100; the platform frontend's limit). */
  maxQueued?: number
  /** A handler that threw (default: console.error). */
  onHandlerError?: (err: unknown, event: string) => void
  /** For tests: the jitter source. */
  random?: () => number
}

export interface Deferred<T> {
  promise: Promise<T>
  resolve: (value: T) => void
  reject: (err: Error) => void
}

export function deferred<T> (): Deferred<T> {
  const d: Partial<Deferred<T>> = {}
  d.promise = new Promise<T>((resolve, reject) => { d.resolve = resolve; d.reject = reject })
  return d as Deferred<T>
}
