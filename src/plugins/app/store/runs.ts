// Run lifecycle rules shared by both stores: which events a run accepts, and what they change.
import type { AgentEvent } from '../../../events/envelope.js'
import { RunConflictError, runTransition, type RunRecord } from './store.js'

/** A run as the store holds it before the group: who owns it, its status, whether it has ended. */
export type KnownRun = Pick<RunRecord, 'user_id' | 'status' | 'ended_at'>

export interface RunChange {
  run_id: string
  user_id: string
  thread_id: string
  /** The status the plan read (null: the run did not exist): the store checks it still holds under its lock. */
  expect: string | null
  status: string
  ended: boolean
  /** Position of the run's last event of this group: an offset (memory) or an ordinal in its user's group. */
  last: number
  events: number
}

/**
 * Applies units of events, in order, to the runs they name. A run is created by its first event; once ended it
 * accepts nothing more. A unit that breaks a rule is refused whole, and leaves the plan as it was.
 */
export class RunPlanner {
  private readonly changes = new Map<string, RunChange>()
  constructor (private readonly known: Map<string, KnownRun>) {}

  /** The unit's conflict, or undefined when it was applied. `position(i)` is where its event i lands. */
  tryUnit (events: AgentEvent[], position: (index: number) => number): RunConflictError | undefined {
    const staged = new Map<string, RunChange>()
    for (let index = 0; index < events.length; index++) {
      const event = events[index]!
      const { run_id: runId, user_id: userId, thread_id: threadId } = event.context
      let change = staged.get(runId)
      if (!change) {
        const planned = this.changes.get(runId)
        const stored = this.known.get(runId)
        if (planned) {
          if (planned.user_id !== userId) return new RunConflictError(index, runId, 'belongs to another user')
          change = { ...planned }
        } else {
          if (stored && stored.user_id !== userId) return new RunConflictError(index, runId, 'belongs to another user')
          if (stored && stored.ended_at !== null) return new RunConflictError(index, runId, `has ended (${stored.status})`)
          // A queued run starts running with its first event.
          const status = stored === undefined || stored.status === 'queued' ? 'running' : stored.status
          change = { run_id: runId, user_id: userId, thread_id: threadId, expect: stored ? stored.status : null, status, ended: false, last: 0, events: 0 }
        }
        staged.set(runId, change)
      }
      // Every event, not only a run's first: one unit may name the same run for two users.
      if (change.user_id !== userId) return new RunConflictError(index, runId, 'belongs to another user')
      if (change.ended) return new RunConflictError(index, runId, `has ended (${change.status})`)
      const transition = runTransition(event)
      if (transition) { change.status = transition.status; change.ended = transition.ends }
      change.last = position(index)
      change.events++
    }
    for (const [runId, change] of staged) this.changes.set(runId, change)
    return undefined
  }

  result (): RunChange[] {
    return [...this.changes.values()]
  }
}
