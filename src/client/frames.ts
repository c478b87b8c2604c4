// The frames of docs/protocol.md as TypeScript types, written out here so the SDK imports nothing from the server.

/** The five events of a successful run, in the order they arrive, and the event of a failed one. */
export const GOLDEN_PATH_EVENTS = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const
export const AGENT_EVENT_TYPES = [...GOLDEN_PATH_EVENTS, 'agent_error'] as const
export type AgentEventType = typeof AGENT_EVENT_TYPES[number]

/** What every delivered agent event carries: its offset, then the run's routing fields, flat at the top level. */
export interface AgentEventBase {
  /** The user's offset: 1, 2, 3, … with no gap within one epoch. */
  seq: number
  /** The stream's identity: offsets from another epoch mean something else. */
  epoch: string
  event_id: string
  /** Epoch seconds. */
  timestamp: number
  user_id: string
  thread_id: string
  run_id: string
  request_id: string
  websocket_client_id?: string
  agent_name?: string
  /** The details again, with the aliases the platform's frontend reads (`status`, `result`, `execution_time_ms`…). */
  data: Record<string, unknown>
  /** The same details as `data`, where the platform's frontend reads them. */
  payload: Record<string, unknown>
}

export interface AgentStarted extends AgentEventBase {
  type: 'agent_started'
  task_description?: string
}

export interface AgentThinking extends AgentEventBase {
  type: 'agent_thinking'
  reasoning: string
  step_number?: number
  progress_percentage?: number
}

export interface ToolExecuting extends AgentEventBase {
  type: 'tool_executing'
  tool_name: string
  parameters: Record<string, unknown>
  execution_id?: string
}

export interface ToolCompleted extends AgentEventBase {
  type: 'tool_completed'
  tool_name: string
  results: unknown
  /** Milliseconds. */
  duration: number
  success?: boolean
  execution_id?: string
}

export interface AgentCompleted extends AgentEventBase {
  type: 'agent_completed'
  /** `completed`, or `cancelled` after a stop. */
  status: string
  final_response: string
  result?: unknown
}

export interface AgentErrorEvent extends AgentEventBase {
  type: 'agent_error'
  error: string
  error_code?: string
}

export type AgentEvent = AgentStarted | AgentThinking | ToolExecuting | ToolCompleted | AgentCompleted | AgentErrorEvent
export type AgentEventOf<T extends AgentEventType> = Extract<AgentEvent, { type: T }>

/** The platform's "style A" envelope for control frames. */
interface Envelope<T extends string, D> {
  type: T
  data: D
  timestamp: number
  server_id?: null
  correlation_id?: null
}

export type ConnectionEstablished = Envelope<'connection_established', {
  connection_id: string
  user_id: string
  golden_path_events?: string[]
  heartbeat_interval_s: number
  /** The stream's position when the socket joined: everything after it is delivered. */
  seq: number
  epoch: string
}>

export interface ResumeFailed {
  type: 'resume_failed'
  reason: 'epoch_changed' | 'history_expired' | 'ahead_of_stream' | (string & {})
  /** Where the stream stands now; the socket continues live from here. */
  seq: number
  epoch: string
  timestamp?: number
}

export interface Ack {
  type: 'ack'
  received_type: string
  status: 'acknowledged'
  user_id?: string
  /** Present on the ack of a user message: the run it started and its thread. */
  run_id?: string
  thread_id?: string
  request_id?: string
  client_message_id?: string
  timestamp?: number
}

/** A refusal of a client frame, e.g. "Thread not found" or "Please enter a message". */
export interface ServerError {
  type: 'error'
  message: string
  /** The same text, where the platform's frontend's error handler reads it. */
  payload?: { error_message: string, message: string, status: 'error' }
  client_message_id?: string
}

/** The platform's "style B" error frame. */
export interface ErrorMessage {
  type: 'error_message'
  error_code: string
  error_message: string
  details?: Record<string, unknown>
  payload?: { error_code: string, error_message: string }
  timestamp?: number
}

/**
 * The answer to stop_agent: `stopped`, or `not_running` (with `run_status`) when the run had already ended. A stop
 * without a run id is answered once per run it stopped, or once with `run_id: null` when nothing was running.
 */
export interface AgentStopped {
  type: 'agent_stopped'
  run_id?: string | null
  payload: { status: 'stopped' | 'not_running' | (string & {}), run_id?: string | null, run_status?: string }
}

export type Pong = Envelope<'pong', { timestamp: number, user_id?: string }>
export type HeartbeatAck = Envelope<'heartbeat_ack', Record<string, unknown>>
/** Sent shortly before the socket's token expires: answer with auth_refresh or be closed with 1008. */
export type TokenExpiring = Envelope<'token_expiring', { expires_at: number, seconds_left: number }>
export type AuthRefreshed = Envelope<'auth_refreshed', { expires_at: number | null }>

/** Every frame the SDK knows by name, keyed by its type. */
export interface ServerFrames {
  connection_established: ConnectionEstablished
  resume_failed: ResumeFailed
  ack: Ack
  error: ServerError
  error_message: ErrorMessage
  agent_stopped: AgentStopped
  pong: Pong
  heartbeat_ack: HeartbeatAck
  token_expiring: TokenExpiring
  auth_refreshed: AuthRefreshed
  agent_started: AgentStarted
  agent_thinking: AgentThinking
  tool_executing: ToolExecuting
  tool_completed: ToolCompleted
  agent_completed: AgentCompleted
  agent_error: AgentErrorEvent
}

/** Any frame: a JSON object with a string type (frames the SDK does not know still reach `frame` handlers). */
export type AnyFrame = { type: string } & Record<string, unknown>

export function isAgentEvent (frame: AnyFrame): frame is AnyFrame & AgentEvent {
  return (AGENT_EVENT_TYPES as readonly string[]).includes(frame.type) && typeof frame.seq === 'number'
}

/** A frame from its text: anything that is not a JSON object with a string `type` is no frame of ours. */
export function parseFrame (text: string): AnyFrame | undefined {
  let frame: unknown
  try {
    frame = JSON.parse(text)
  } catch {
    return undefined
  }
  if (frame === null || typeof frame !== 'object' || typeof (frame as AnyFrame).type !== 'string') return undefined
  return frame as AnyFrame
}
