// Chat in, runs out: a user's message becomes a run request whose context comes only from the verified identity.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { contextFieldProblem, createUserExecutionContext } from '../context/user-execution-context.js'
import { clip, storableProblem } from '../events/storable.js'
import type { Connection } from '../plugins/app/fanout/registry.js'
import { messageText, runIdOf, threadIdOf, type ChatFrame } from '../protocol/client-frames.js'
import { agentStopped, chatError, runAck, threadMessages } from '../protocol/frames.js'

type Deps = Pick<FastifyInstance, 'registry' | 'threads' | 'runs' | 'store'>
const HISTORY_LIMIT = 200
/** One answer for "another user's", "does not exist" and "cannot be a thread id": none of them tells the other apart. */
const THREAD_NOT_FOUND = 'Thread not found'

const id = (kind: string): string => `${kind}_${randomUUID().replaceAll('-', '')}`

/** user_message, chat_message, start_agent: ack with the run and thread, then the run's events follow. */
export async function startRun (deps: Deps, conn: Connection, frame: ChatFrame, receivedType: string): Promise<void> {
  const text = messageText(frame)?.trim()
  if (!text) { deps.registry.send(conn, chatError('Please enter a message')); return }
  // The message becomes the run's events and the thread's history: refused here what the store would refuse there.
  const unstorable = storableProblem(frame)
  if (unstorable) { deps.registry.send(conn, chatError(`${unstorable.path || 'frame'}: ${unstorable.message}`)); return }
  const userId = conn.userId
  // A thread id the gateway has not seen (made by the client, or by the platform elsewhere) is adopted: the first
  // claim owns it, so the client's thread and ours stay one. Another user's thread, and an id that cannot name a
  // thread, get the answer an unknown id on a read gets.
  let threadId = threadIdOf(frame)
  if (threadId !== undefined) {
    if (contextFieldProblem('thread_id', threadId) !== undefined || await deps.threads.claim(userId, threadId, clip(text, 80)) === 'foreign') {
      deps.registry.send(conn, chatError(THREAD_NOT_FOUND))
      return
    }
  } else {
    threadId = id('thread')
    await deps.threads.create(userId, threadId, clip(text, 80))
  }
  const context = createUserExecutionContext({
    user_id: userId, thread_id: threadId, run_id: id('run'), request_id: id('req'), websocket_client_id: conn.id
  })
  await deps.threads.addMessage({ id: id('msg'), threadId, userId, runId: context.run_id, content: text })
  await deps.store.queueRun(context)
  await deps.runs.enqueue({ context, message: text, created_at: Date.now() })
  conn.log.info({ run_id: context.run_id, thread_id: threadId }, 'run requested')
  deps.registry.send(conn, runAck(receivedType, context, frame.client_message_id))
}

/**
 * stop_agent / stop_processing: only runs of this user; the worker ends each with agent_completed status "cancelled".
 * With a run id, that run. Without one (the platform's frontend sends `{}` or `{agent_id: ""}`), the user's active
 * runs in the frame's thread, or, with no thread either, the user's most recent active run.
 */
export async function stopRun (deps: Deps, conn: Connection, frame: ChatFrame): Promise<void> {
  const runId = runIdOf(frame)
  if (!runId) { await stopActive(deps, conn, threadIdOf(frame)); return }
  const run = await deps.store.run(conn.userId, runId)
  if (!run) { deps.registry.send(conn, chatError('Run not found')); return }
  const active = run.ended_at === null
  if (active) await deps.runs.stop(runId)
  conn.log.info({ run_id: runId, active }, 'run stop requested')
  deps.registry.send(conn, agentStopped(runId, active ? 'stopped' : 'not_running', run.status))
}

async function stopActive (deps: Deps, conn: Connection, threadId: string | undefined): Promise<void> {
  // The query is scoped to the user: another user's thread has no active runs here, exactly like an unknown one.
  const active = await deps.threads.activeRuns(conn.userId, threadId)
  const targets = threadId === undefined ? active.slice(0, 1) : active
  if (targets.length === 0) { deps.registry.send(conn, agentStopped(null, 'not_running')); return }
  for (const run of targets) {
    await deps.runs.stop(run.run_id)
    conn.log.info({ run_id: run.run_id, thread_id: run.thread_id }, 'run stop requested without a run id')
    deps.registry.send(conn, agentStopped(run.run_id, 'stopped', run.status))
  }
}

/** switch_thread → thread_data; get_thread_history → thread_history. Another user's thread reads as an unknown one. */
export async function threadHistory (deps: Deps, conn: Connection, frame: ChatFrame, type: 'switch_thread' | 'get_thread_history'): Promise<void> {
  const threadId = threadIdOf(frame)
  if (!threadId) { deps.registry.send(conn, chatError('Thread ID required')); return }
  if (await deps.threads.ownership(conn.userId, threadId) !== 'owned') {
    deps.registry.send(conn, chatError(THREAD_NOT_FOUND))
    return
  }
  const messages = await deps.threads.messages(conn.userId, threadId, HISTORY_LIMIT)
  deps.registry.send(conn, threadMessages(type === 'switch_thread' ? 'thread_data' : 'thread_history', threadId, messages))
}
