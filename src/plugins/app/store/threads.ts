// Threads and the messages users send in them: ownership is checked here, against the verified user.
import type { PgPool } from '../../external/postgres.js'

export interface ThreadMessage { id: string, role: 'user' | 'assistant', content: string, created_at: string, run_id: string }

/** A run that has not ended yet (queued or running), newest first. */
export interface ActiveRun { run_id: string, thread_id: string, status: string }

const ACTIVE_RUNS_LIMIT = 20

export interface ThreadStore {
  /** 'owned' when the user owns it, 'foreign' when another user does, 'none' when it does not exist. */
  ownership: (userId: string, threadId: string) => Promise<'owned' | 'foreign' | 'none'>
  create: (userId: string, threadId: string, title: string) => Promise<void>
  /**
   * Creates the thread for this user unless it exists: the first claim owns it. 'owned' when the user owns it now
   * (created or already theirs), 'foreign' when another user does.
   */
  claim: (userId: string, threadId: string, title: string) => Promise<'owned' | 'foreign'>
  /** The user's runs that have not ended, newest first; only those of `threadId` when given. */
  activeRuns: (userId: string, threadId?: string) => Promise<ActiveRun[]>
  addMessage: (m: { id: string, threadId: string, userId: string, runId: string, content: string }) => Promise<void>
  /** The user's messages of a thread and the agents' final answers, oldest first. */
  messages: (userId: string, threadId: string, limit: number) => Promise<ThreadMessage[]>
}

export function createPgThreads (pool: PgPool): ThreadStore {
  const ownership: ThreadStore['ownership'] = async (userId, threadId) => {
    const { rows } = await pool.query<{ user_id: string }>('SELECT user_id FROM threads WHERE thread_id = $1', [threadId])
    if (rows.length === 0) return 'none'
    return rows[0]!.user_id === userId ? 'owned' : 'foreign'
  }
  return {
    ownership,
    async create (userId, threadId, title) {
      await pool.query('INSERT INTO threads (thread_id, user_id, title) VALUES ($1, $2, $3)', [threadId, userId, title.slice(0, 200)])
    },
    async claim (userId, threadId, title) {
      const created = await pool.query('INSERT INTO threads (thread_id, user_id, title) VALUES ($1, $2, $3) ON CONFLICT (thread_id) DO NOTHING',
        [threadId, userId, title.slice(0, 200)])
      if (created.rowCount === 1) return 'owned'
      // It existed (or a concurrent claim won): the row that stands decides.
      return await ownership(userId, threadId) === 'owned' ? 'owned' : 'foreign'
    },
    async activeRuns (userId, threadId) {
      const { rows } = await pool.query<ActiveRun>(
        `SELECT run_id, thread_id, status FROM runs
          WHERE user_id = $1 AND ended_at IS NULL AND ($2::text IS NULL OR thread_id = $2)
          ORDER BY started_at DESC LIMIT $3`, [userId, threadId ?? null, ACTIVE_RUNS_LIMIT])
      return rows
    },
    async addMessage (m) {
      await pool.query(
        `WITH touched AS (UPDATE threads SET updated_at = now() WHERE thread_id = $2 AND user_id = $3)
         INSERT INTO messages (message_id, thread_id, user_id, run_id, content) VALUES ($1, $2, $3, $4, $5)`,
        [m.id, m.threadId, m.userId, m.runId, m.content])
    },
    async messages (userId, threadId, limit) {
      const { rows } = await pool.query<ThreadMessage & { created_at: Date }>(
        `SELECT * FROM (
           SELECT message_id AS id, 'user' AS role, content, created_at, run_id FROM messages WHERE thread_id = $1 AND user_id = $2
           UNION ALL
           SELECT event_id, 'assistant', body->'fields'->>'final_response', occurred_at, run_id FROM events
            WHERE thread_id = $1 AND user_id = $2 AND type = 'agent_completed'
         ) m ORDER BY created_at LIMIT $3`, [threadId, userId, limit])
      return rows.map((r) => ({ ...r, created_at: new Date(r.created_at).toISOString() }))
    }
  }
}

/**
 * The embedded mode's threads. Runs are those its users started by a message (the ones a stop can name); whether one
 * has ended is the event log's answer (`runOf`).
 */
export function createMemoryThreads (
  finalResponses: (userId: string, threadId: string) => Promise<ThreadMessage[]>,
  runOf: (userId: string, runId: string) => Promise<{ ended_at: string | null, status: string } | null>
): ThreadStore {
  const threads = new Map<string, string>()
  const messages: Array<ThreadMessage & { threadId: string, userId: string }> = []
  return {
    async ownership (userId, threadId) {
      const owner = threads.get(threadId)
      return owner === undefined ? 'none' : owner === userId ? 'owned' : 'foreign'
    },
    async create (userId, threadId) { threads.set(threadId, userId) },
    async claim (userId, threadId) {
      if (!threads.has(threadId)) threads.set(threadId, userId)
      return threads.get(threadId) === userId ? 'owned' : 'foreign'
    },
    async activeRuns (userId, threadId) {
      const active: ActiveRun[] = []
      const seen = new Set<string>()
      for (let i = messages.length - 1; i >= 0 && active.length < ACTIVE_RUNS_LIMIT; i--) {
        const m = messages[i]!
        if (m.userId !== userId || (threadId !== undefined && m.threadId !== threadId) || seen.has(m.run_id)) continue
        seen.add(m.run_id)
        const run = await runOf(userId, m.run_id)
        if (run && run.ended_at === null) active.push({ run_id: m.run_id, thread_id: m.threadId, status: run.status })
      }
      return active
    },
    async addMessage (m) {
      messages.push({ id: m.id, role: 'user', content: m.content, created_at: new Date().toISOString(), run_id: m.runId, threadId: m.threadId, userId: m.userId })
      if (messages.length > 10_000) messages.shift()
    },
    async messages (userId, threadId, limit) {
      const mine = messages.filter((m) => m.threadId === threadId && m.userId === userId)
      const all = [...mine, ...await finalResponses(userId, threadId)].sort((a, b) => a.created_at.localeCompare(b.created_at))
      return all.slice(0, limit).map(({ id, role, content, created_at: at, run_id: runId }) => ({ id, role, content, created_at: at, run_id: runId }))
    }
  }
}
