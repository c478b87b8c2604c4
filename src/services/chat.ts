// Chat in, runs out: a user's message becomes a run request whose context comes only from the verified identity.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { createUserExecutionContext } from '../context/user-execution-context.js'
import type { Connection } from '../plugins/app/fanout/registry.js'
import { messageText, runIdOf, threadIdOf, type ChatFrame } from '../protocol/client-frames.js'
import { chatError } from '../protocol/frames.js'

type Deps = Pick<FastifyInstance, 'registry' | 'threads' | 'runs' | 'store'>
const HISTORY_LIMIT = 200

const id = (kind: string): string => `${kind}_${randomUUID().replaceAll('-', '')}`

/** user_message, chat_message, start_agent: ack with the run and thread, then the run's events follow. */
export async function startRun (deps: Deps, conn: Connection, frame: ChatFrame, receivedType: string): Promise<void> {
  const text = messageText(frame)?.trim()
  if (!text) { deps.registry.send(conn, chatError('Please enter a message')); return }
  const userId = conn.userId
  // The thread is the client's only if this user owns it; any other id (unknown, or another user's: the answer must
  // not tell them apart) starts a new thread.
  let threadId = threadIdOf(frame)
  if (threadId !== undefined && await deps.threads.ownership(userId, threadId) !== 'owned') threadId = undefined
  if (threadId === undefined) {
    threadId = id('thread')
    await deps.threads.create(userId, threadId, text.slice(0, 80))
  }
  const context = createUserExecutionContext({
    user_id: userId, thread_id: threadId, run_id: id('run'), request_id: id('req'), websocket_client_id: conn.id
  })
  await deps.threads.addMessage({ id: id('msg'), threadId, userId, runId: context.run_id, content: text })
  await deps.store.queueRun(context)
  await deps.runs.enqueue({ context, message: text, created_at: Date.now() })
  conn.log.info({ run_id: context.run_id, thread_id: threadId }, 'run requested')
  const ack: Record<string, unknown> = {
    type: 'ack',
    received_type: receivedType,
    status: 'acknowledged',
    user_id: userId,
    run_id: context.run_id,
    thread_id: threadId,
    request_id: context.request_id,
    timestamp: Date.now() / 1000
  }
  if (frame.client_message_id !== undefined) ack.client_message_id = frame.client_message_id
  deps.registry.send(conn, ack)
}

/** stop_agent: only a run of this user; the worker ends it with agent_completed status "cancelled". */
export async function stopRun (deps: Deps, conn: Connection, frame: ChatFrame): Promise<void> {
  const runId = runIdOf(frame)
  if (!runId) { deps.registry.send(conn, chatError('Run ID required')); return }
  const run = await deps.store.run(conn.userId, runId)
  if (!run) { deps.registry.send(conn, chatError('Run not found')); return }
  const active = run.ended_at === null
  if (active) await deps.runs.stop(runId)
  conn.log.info({ run_id: runId, active }, 'run stop requested')
  deps.registry.send(conn, { type: 'agent_stopped', run_id: runId, payload: { status: active ? 'stopped' : 'not_running', run_id: runId, run_status: run.status } })
}

/** switch_thread → thread_data; get_thread_history → thread_history. Another user's thread is denied. */
export async function threadHistory (deps: Deps, conn: Connection, frame: ChatFrame, type: 'switch_thread' | 'get_thread_history'): Promise<void> {
  const threadId = threadIdOf(frame)
  if (!threadId) { deps.registry.send(conn, chatError('Thread ID required')); return }
  if (await deps.threads.ownership(conn.userId, threadId) !== 'owned') {
    deps.registry.send(conn, chatError('Access denied to thread'))
    return
  }
  const messages = await deps.threads.messages(conn.userId, threadId, HISTORY_LIMIT)
  deps.registry.send(conn, type === 'switch_thread'
    ? { type: 'thread_data', payload: { thread_id: threadId, messages, metadata: { message_count: messages.length } } }
    : { type: 'thread_history', payload: { thread_id: threadId, messages } })
}
