// What most checks do on a socket: connect as a user, send a chat message the platform's way, follow that run's events.
import { randomUUID } from 'node:crypto'
import { GOLDEN_PATH, SLA } from './report.js'
import { E2ESocket, type Received } from './socket.js'
import type { Target } from './target.js'

export interface Connected {
  socket: E2ESocket
  /** The user the gateway says this token is (connection_established data.user_id). */
  userId: string
  epoch: string
  openMs: number
  /** From the open socket to connection_established. */
  establishedMs: number
}

const typeOf = (r: Received): string => String(r.frame.type)
const dataOf = (r: Received): Record<string, unknown> => (r.frame.data ?? {})

/** Opens a socket with `Authorization: Bearer` (the platform's golden path) and waits for its first frame. */
export async function connect (target: Target, token: string, query = ''): Promise<Connected> {
  const { socket, openMs } = await E2ESocket.open(`${target.wsUrl}${query}`, { headers: { authorization: `Bearer ${token}` }, timeoutMs: SLA.socketOpenMs })
  const opened = performance.now()
  const first = await socket.next(() => true, SLA.establishedMs, 'first frame')
  // The platform's tests accept either name for the welcome.
  if (typeOf(first) !== 'connection_established' && typeOf(first) !== 'connection_ready') {
    await socket.close()
    throw new Error(`first frame is ${typeOf(first)}, expected connection_established: ${first.raw.slice(0, 200)}`)
  }
  const userId = dataOf(first).user_id
  if (typeof userId !== 'string' || userId === '') throw new Error('connection_established carries no data.user_id')
  return { socket, userId, epoch: String(dataOf(first).epoch ?? ''), openMs, establishedMs: first.at - opened }
}

export interface Sent { runId: string, threadId: string, sentAt: number }

/** Sends the platform golden path's frame and waits for the gateway's ack, which names the run it started. */
export async function sendMessage (socket: E2ESocket, text: string): Promise<Sent> {
  const threadId = randomUUID()
  const sentAt = performance.now()
  const from = socket.frames.length
  socket.send({ type: 'user_message', text, thread_id: threadId, timestamp: new Date().toISOString() })
  const answer = await socket.next((r) => socket.frames.indexOf(r) >= from && ['ack', 'error', 'error_message'].includes(typeOf(r)), SLA.firstEventMs, 'ack of the message')
  const runId = answer.frame.run_id
  if (typeOf(answer) !== 'ack' || typeof runId !== 'string') throw new Error(`the message was not acknowledged with a run_id: ${answer.raw.slice(0, 200)}`)
  return { runId, threadId: String(answer.frame.thread_id ?? threadId), sentAt }
}

/** The agent events of one run, as received so far. */
export function runEvents (socket: E2ESocket, runId: string): Received[] {
  return socket.frames.filter((r) => r.frame.run_id === runId && typeof r.frame.seq === 'number')
}

/** Waits for the run's agent_completed (or agent_error), within `ms`; returns every event of the run received. */
export async function untilRunEnds (socket: E2ESocket, runId: string, ms: number): Promise<Received[]> {
  await socket.next((r) => r.frame.run_id === runId && (typeOf(r) === 'agent_completed' || typeOf(r) === 'agent_error'), ms, `agent_completed of ${runId}`)
  return runEvents(socket, runId)
}

/** Whether the five golden-path events appear in this order (other events may sit between them); names what is wrong. */
export function goldenOrderProblem (events: Received[]): string | undefined {
  const types = events.map(typeOf)
  let at = -1
  for (const wanted of GOLDEN_PATH) {
    const i = types.indexOf(wanted, at + 1)
    if (i === -1) return `missing ${wanted} after ${types.slice(0, at + 1).join(', ') || 'the start'} (got ${types.join(', ')})`
    at = i
  }
  const seqs = events.map((r) => r.frame.seq as number)
  if (seqs.some((s, i) => i > 0 && s <= seqs[i - 1]!)) return `offsets not increasing: ${seqs.join(', ')}`
  return undefined
}

/** The longest time between two consecutive events, in ms. */
export function maxGap (events: Received[]): number {
  let gap = 0
  for (let i = 1; i < events.length; i++) gap = Math.max(gap, events[i]!.at - events[i - 1]!.at)
  return gap
}
