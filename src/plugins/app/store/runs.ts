// Run lifecycle rules shared by both stores: which events a run accepts, and what they change.
import type { AgentEvent } from '../../../events/envelope.js'
import { RunConflictError, runTransition, type RunRecord } from './store.js'

export interface RunChange { run_id: string, user_id: string, thread_id: string, status: string, ended: boolean, last_seq: number, events: number, started: boolean }

/**
 * Applies a batch's events, in order, to the runs they name (`known`: runs as stored now).
 * A run is created by its first event, normally agent_started; once ended it accepts nothing more.
 */
export function planRuns (events: Array<AgentEvent & { seq: number }>, known: Map<string, Pick<RunRecord, 'user_id' | 'status' | 'ended_at'>>): RunChange[] {
  const changes = new Map<string, RunChange>()
  events.forEach((event, index) => {
    const { run_id: runId, user_id: userId, thread_id: threadId } = event.context
    const stored = known.get(runId)
    let change = changes.get(runId)
    if (!change) {
      if (stored && stored.user_id !== userId) throw new RunConflictError(index, runId, 'belongs to another user')
      if (stored && stored.ended_at !== null) throw new RunConflictError(index, runId, `has ended (${stored.status})`)
      // A queued run starts running with its first event.
      const status = stored === undefined || stored.status === 'queued' ? 'running' : stored.status
      change = { run_id: runId, user_id: userId, thread_id: threadId, status, ended: false, last_seq: event.seq, events: 0, started: !stored }
      changes.set(runId, change)
    } else if (change.ended) {
      throw new RunConflictError(index, runId, `has ended (${change.status})`)
    }
    const transition = runTransition(event)
    if (transition) { change.status = transition.status; change.ended = transition.ends }
    change.last_seq = event.seq
    change.events++
  })
  return [...changes.values()]
}
