// WebSocket frames: client frames as TypeBox schemas, and builders for the server's control frames (contract section 3).
import Type from 'typebox'
import { Compile } from 'typebox/compile'
import type { WsErrorCode } from '../errors.js'
import { GOLDEN_PATH_EVENTS } from '../events/schemas.js'

/** Any client frame: a JSON object with a string type (the platform defaults a missing type to user_message). */
export const ClientFrameSchema = Type.Object({
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 64 }))
}, { additionalProperties: true })
export type ClientFrame = Type.Static<typeof ClientFrameSchema> & Record<string, unknown>
export const checkClientFrame = Compile(ClientFrameSchema)

const now = (): number => Date.now() / 1000

/** The platform's "style A" envelope for control frames. */
function envelope (type: string, data: Record<string, unknown>): Record<string, unknown> {
  return { type, data, timestamp: now(), server_id: null, correlation_id: null }
}

export function connectionEstablished (d: { connectionId: string, userId: string, heartbeatIntervalS: number, seq: number, epoch: string }): Record<string, unknown> {
  return envelope('connection_established', {
    connection_id: d.connectionId,
    user_id: d.userId,
    golden_path_events: GOLDEN_PATH_EVENTS,
    heartbeat_interval_s: d.heartbeatIntervalS,
    seq: d.seq,
    epoch: d.epoch
  })
}

/** Where a client resumes from: the last offset it has, in the epoch it has it in. */
export const ResumeSchema = Type.Object({
  since: Type.Integer({ minimum: 0 }),
  epoch: Type.String({ minLength: 1, maxLength: 64 })
})
export type Resume = Type.Static<typeof ResumeSchema>
const checkResume = Compile(ResumeSchema)

/** Reads since/epoch from a query string or a resume frame; undefined when absent, an error text when malformed. */
export function parseResume (source: Record<string, unknown>): Resume | string | undefined {
  if (source.since === undefined && source.epoch === undefined) return undefined
  const candidate = { since: typeof source.since === 'string' && /^\d+$/.test(source.since) ? Number(source.since) : source.since, epoch: source.epoch }
  if (checkResume.Check(candidate)) return candidate
  return 'resume needs "since" (an integer >= 0) and "epoch" (the epoch that since belongs to)'
}

export function pong (userId: string): Record<string, unknown> {
  return envelope('pong', { timestamp: now(), user_id: userId })
}

export function ack (receivedType: string, userId: string): Record<string, unknown> {
  return { type: 'ack', received_type: receivedType, status: 'acknowledged', user_id: userId, timestamp: now() }
}

/** The ack of a chat message: the run and thread it started; the client's own message id echoed when it sent one. */
export function runAck (receivedType: string, run: { user_id: string, run_id: string, thread_id: string, request_id: string }, clientMessageId?: unknown): Record<string, unknown> {
  const frame: Record<string, unknown> = {
    type: 'ack', received_type: receivedType, status: 'acknowledged', user_id: run.user_id, run_id: run.run_id, thread_id: run.thread_id, request_id: run.request_id, timestamp: now()
  }
  if (clientMessageId !== undefined) frame.client_message_id = clientMessageId
  return frame
}

/** A thread's messages: `thread_data` answers switch_thread, `thread_history` answers get_thread_history. */
export function threadMessages (type: 'thread_data' | 'thread_history', threadId: string, messages: readonly unknown[]): Record<string, unknown> {
  return type === 'thread_data'
    ? { type, payload: { thread_id: threadId, messages, metadata: { message_count: messages.length } } }
    : { type, payload: { thread_id: threadId, messages } }
}

/** The platform's "style B" error frame; `payload` too, where the frontend's error handler reads it. */
export function errorMessage (code: WsErrorCode, message: string, details: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'error_message', error_code: code, error_message: message, details, payload: { error_code: code, error_message: message }, timestamp: now(), recovery_suggestions: null }
}

/** The client's `since` cannot be replayed: why, and where the stream stands now (it continues live from there). */
export function resumeFailed (reason: string, position: { seq: number, epoch: string }): Record<string, unknown> {
  return { type: 'resume_failed', reason, seq: position.seq, epoch: position.epoch, timestamp: now() }
}

/**
 * The platform's plain error frame, used by the chat handlers ("Thread not found", ...). The platform's tests read
 * `message`; its frontend's error handler reads `payload.error_message`, and fails on a frame without a payload.
 */
export function chatError (message: string): Record<string, unknown> {
  return { type: 'error', message, payload: { error_message: message, message, status: 'error' }, timestamp: now() }
}

/** The answer to a stop: `stopped`, or `not_running` (with the run's status when there is a run) when nothing ran. */
export function agentStopped (runId: string | null, status: 'stopped' | 'not_running', runStatus?: string): Record<string, unknown> {
  const payload: Record<string, unknown> = { status, run_id: runId }
  if (runStatus !== undefined) payload.run_status = runStatus
  return { type: 'agent_stopped', run_id: runId, payload, timestamp: now() }
}

export function heartbeatAck (): Record<string, unknown> {
  return envelope('heartbeat_ack', { timestamp: now(), status: 'healthy' })
}

/** Sent once, shortly before the socket's token expires: answer with auth_refresh or be closed (1008). */
export function tokenExpiring (expiresAt: number): Record<string, unknown> {
  return envelope('token_expiring', { expires_at: expiresAt, seconds_left: Math.max(0, Math.round(expiresAt - now())) })
}

/** The answer to a successful auth_refresh: the socket now lives until `expiresAt` (null: the token has no exp). */
export function authRefreshed (expiresAt: number | undefined): Record<string, unknown> {
  return envelope('auth_refreshed', { expires_at: expiresAt ?? null })
}

/** Sent after a silence from the client (contract section 2.5): the socket is alive, the client may answer. */
export function heartbeat (connectionId: string): Record<string, unknown> {
  return envelope('heartbeat', { connection_id: connectionId, timestamp: new Date().toISOString() })
}

/**
 * Before the server closes a socket on purpose (shutdown or rotation): when to reconnect, and where the client
 * stands, so it can resume with since/epoch on any instance.
 */
export function reconnectFrame (type: 'server_shutdown' | 'reconnect', message: string, reconnectDelayMs: number, drainTimeoutMs: number, cursor?: { next: number, epoch: string }): Record<string, unknown> {
  const frame: Record<string, unknown> = { type, message, reconnect_delay_ms: reconnectDelayMs, timestamp: now() }
  if (type === 'server_shutdown') frame.drain_timeout = drainTimeoutMs / 1000
  // Not seq/epoch at the top level: those mark stream frames. These are the values for the reconnect's query.
  if (cursor) frame.resume = { since: cursor.next - 1, epoch: cursor.epoch }
  return frame
}
