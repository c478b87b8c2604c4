// In-memory event log for the embedded mode: same rules as PostgreSQL, bounded, gone on restart.
import { randomBytes } from 'node:crypto'
import type { AgentEvent } from '../../../events/envelope.js'
import { RunPlanner } from './runs.js'
import { RunConflictError, type EventStore, type RunRecord, type StoredEvent, type StreamPosition, type UnitOutcome } from './store.js'

export function createMemoryStore (limit = 10_000): EventStore {
  const events = new Map<string, StoredEvent & { storedAt: number }>()
  const streams = new Map<string, StreamPosition>()
  const runs = new Map<string, RunRecord>()
  // One epoch for the whole log, as in PostgreSQL: reading a position creates nothing.
  const epoch = randomBytes(6).toString('hex')

  const streamOf = (userId: string): StreamPosition => streams.get(userId) ?? { seq: 0, epoch }
  const ofUser = (userId: string): StoredEvent[] => [...events.values()].filter((e) => e.context.user_id === userId)

  /** One unit, whole or not at all. */
  function appendUnit (unit: AgentEvent[]): UnitOutcome {
    const duplicates = unit.filter((e) => events.has(e.event_id)).map((e) => events.get(e.event_id)!)
    const fresh = unit.filter((e) => !events.has(e.event_id))
    const planned = new Map<string, number>()
    const stored: StoredEvent[] = fresh.map((e) => {
      const seq = (planned.get(e.context.user_id) ?? streamOf(e.context.user_id).seq) + 1
      planned.set(e.context.user_id, seq)
      return { ...e, seq, epoch: streamOf(e.context.user_id).epoch }
    })
    const planner = new RunPlanner(runs)
    const conflict = planner.tryUnit(fresh, (i) => stored[i]!.seq)
    if (conflict) return { ok: false, conflict: new RunConflictError(unit.indexOf(fresh[conflict.index]!), conflict.runId, conflict.reason) }
    for (const [userId, seq] of planned) streams.set(userId, { seq, epoch: streamOf(userId).epoch })
    const now = Date.now()
    for (const e of stored) events.set(e.event_id, { ...e, storedAt: now })
    for (const c of planner.result()) {
      const run = runs.get(c.run_id) ?? { run_id: c.run_id, user_id: c.user_id, thread_id: c.thread_id, status: 'running', started_at: new Date(now).toISOString(), ended_at: null, events: 0, last_seq: null }
      runs.set(c.run_id, { ...run, status: c.status, ended_at: c.ended ? new Date(now).toISOString() : null, events: run.events + c.events, last_seq: c.last })
    }
    for (const id of events.keys()) {
      if (events.size <= limit) break
      events.delete(id)
    }
    return { ok: true, stored, duplicates }
  }

  return {
    kind: 'memory',

    async append (units) {
      return { outcomes: units.map(appendUnit) }
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

    // In-process publishing cannot be lost between a commit and a publish: there is no outbox to relay.
    async outboxDue () { return [] },
    async outboxDone () {},

    async prune (before) {
      let n = 0
      for (const [id, e] of events) {
        if (e.storedAt >= before.getTime()) break
        events.delete(id)
        n++
      }
      return { partitions: 0, events: n }
    },

    async maintain () {},
    async ping () {}
  }
}
