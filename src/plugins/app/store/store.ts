// The store contract: the durable event log, the per-user sequencer, and runs.
import type { AgentEvent } from '../../../events/envelope.js'

/** An event with its place in its user's stream. */
export interface StoredEvent extends AgentEvent { seq: number, epoch: string }

/** Where a user's stream stands: the last offset handed out, and the stream's incarnation. */
export interface StreamPosition { seq: number, epoch: string }

export type RunStatus = 'queued' | 'running' | 'completed' | 'error' | 'cancelled' | string

export interface RunRecord {
  run_id: string
  user_id: string
  thread_id: string
  status: RunStatus
  started_at: string
  ended_at: string | null
  events: number
  last_seq: number | null
}

/** A batch touched a run that has ended, or one that belongs to another user: nothing of it was stored. */
export class RunConflictError extends Error {
  constructor (public readonly index: number, public readonly runId: string, public readonly reason: string) {
    super(`events[${index}]: run ${runId} ${reason}`)
    this.name = 'RunConflictError'
  }
}

/** What became of one unit (a request's batch, a stream entry) of a group: stored whole, or refused whole. */
export type UnitOutcome =
  | { ok: true, stored: StoredEvent[], duplicates: StoredEvent[] }
  | { ok: false, conflict: RunConflictError }

/** A committed group whose publish is not known to have happened: the offsets it took, per user. */
export interface OutboxEntry { id: string, ranges: Array<{ userId: string, from: number, to: number }> }

export interface EventStore {
  readonly kind: 'memory' | 'postgres'
  /**
   * Stores units of events in one transaction, in order; each new event takes the next offset of its user's
   * stream. An event_id stored before (within the idempotency window) is a duplicate, returned as stored. A unit
   * that breaks a run rule is refused whole; the others are stored. `outboxId` names the group until published.
   */
  append: (units: AgentEvent[][]) => Promise<{ outcomes: UnitOutcome[], outboxId?: string }>
  /** The user's current position (a user with no events is at seq 0); reads, never writes. */
  position: (userId: string) => Promise<StreamPosition>
  /** Events of the user with from <= seq <= to, ascending, at most `limit`. */
  range: (userId: string, from: number, to: number, limit: number) => Promise<StoredEvent[]>
  /** The oldest offset still kept for the user, or null when none is. */
  earliest: (userId: string) => Promise<number | null>
  /** The user's events of one thread after `after`, or null when the user has no such thread. */
  threadEvents: (userId: string, threadId: string, after: number, limit: number) => Promise<StoredEvent[] | null>
  /** Records a run the gateway asked an agent for (status `queued`), so it can be stopped before it starts. */
  queueRun: (context: { run_id: string, user_id: string, thread_id: string }) => Promise<void>
  /** The user's run, or null when it does not exist for this user. */
  run: (userId: string, runId: string) => Promise<RunRecord | null>
  /** Groups committed at least `olderThanMs` ago and not yet marked published, oldest first. */
  outboxDue: (olderThanMs: number, limit: number) => Promise<OutboxEntry[]>
  /** Marks groups as published. */
  outboxDone: (ids: string[]) => Promise<void>
  /** Removes events stored before `before`: whole days in PostgreSQL (`partitions`), single events otherwise. */
  prune: (before: Date) => Promise<{ partitions: number, events: number }>
  /** Periodic upkeep (the days ahead of the partitioned log). */
  maintain: () => Promise<void>
  ping: () => Promise<void>
}

/** How an event moves its run along: the status it leaves the run in, and whether that ends it. */
export function runTransition (event: AgentEvent): { status: RunStatus, ends: boolean } | undefined {
  if (event.type === 'agent_completed') return { status: String(event.fields.status ?? 'completed'), ends: true }
  if (event.type === 'agent_error') return { status: 'error', ends: true }
  return undefined
}
