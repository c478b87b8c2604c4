// In-memory event log for the embedded mode: same rules as PostgreSQL, bounded, gone on restart.
import { randomBytes } from 'node:crypto'
import type { AgentEvent } from '../../../events/envelope.js'
import { planRuns } from './runs.js'
import type { EventStore, RunRecord, StoredEvent, StreamPosition } from './store.js'

export function createMemoryStore (limit = 10_000): EventStore {
  const events = new Map<string, StoredEvent & { storedAt: number }>()
  const streams = new Map<string, StreamPosition>()
  const runs = new Map<string, RunRecord>()

  const streamOf = (userId: string): StreamPosition => {
    let s = streams.get(userId)
    if (!s) { s = { seq: 0, epoch: randomBytes(6).toString('hex') }; streams.set(userId, s) }
    return s
  }
  const ofUser = (userId: string): StoredEvent[] => [...events.values()].filter((e) => e.context.user_id === userId)

  return {
    kind: 'memory',

    async append (batch: AgentEvent[]) {
      const fresh = batch.filter((e, i) => !events.has(e.event_id) && batch.findIndex((o) => o.event_id === e.event_id) === i)
      // Offsets are planned first and committed only if the run rules accept the whole batch.
      const planned = new Map<string, number>()
      const stored: StoredEvent[] = fresh.map((e) => {
        const s = streamOf(e.context.user_id)
        const seq = (planned.get(e.context.user_id) ?? s.seq) + 1
        planned.set(e.context.user_id, seq)
        return { ...e, seq, epoch: s.epoch }
      })
      const changes = planRuns(stored, runs)
      for (const [userId, seq] of planned) streamOf(userId).seq = seq
      const now = Date.now()
      for (const e of stored) events.set(e.event_id, { ...e, storedAt: now })
      for (const c of changes) {
        const run = runs.get(c.run_id) ?? { run_id: c.run_id, user_id: c.user_id, thread_id: c.thread_id, status: 'running', started_at: new Date(now).toISOString(), ended_at: null, events: 0, last_seq: null }
        runs.set(c.run_id, { ...run, status: c.status, ended_at: c.ended ? new Date(now).toISOString() : null, events: run.events + c.events, last_seq: c.last_seq })
      }
      for (const id of events.keys()) {
        if (events.size <= limit) break
        events.delete(id)
      }
      return { stored, duplicates: batch.length - stored.length }
    },

    async position (userId) { return { ...streamOf(userId) } },

    async range (userId, from, to, max) {
      return ofUser(userId).filter((e) => e.seq >= from && e.seq <= to).sort((a, b) => a.seq - b.seq).slice(0, max)
    },

    async earliest (userId) {
      const seqs = ofUser(userId).map((e) => e.seq)
      return seqs.length === 0 ? null : Math.min(...seqs)
    },

    async threadEvents (userId, threadId, after, max) {
      const mine = ofUser(userId).filter((e) => e.context.thread_id === threadId)
      if (mine.length === 0) return null
      return mine.filter((e) => e.seq > after).sort((a, b) => a.seq - b.seq).slice(0, max)
    },

    async queueRun (c) {
      if (!runs.has(c.run_id)) runs.set(c.run_id, { ...c, status: 'queued', started_at: new Date().toISOString(), ended_at: null, events: 0, last_seq: null })
    },

    async run (userId, runId) {
      const run = runs.get(runId)
      return run && run.user_id === userId ? { ...run } : null
    },

    async prune (before, batch) {
      let n = 0
      for (const [id, e] of events) {
        if (n >= batch || e.storedAt >= before.getTime()) break
        events.delete(id)
        n++
      }
      return n
    },

    async ping () {}
  }
}
