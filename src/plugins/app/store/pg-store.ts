// PostgreSQL event log: a group of units planned on one read and stored by one call (append_events); reads batched.
import DataLoader from 'dataloader'
import { LRUCache } from 'lru-cache'
import type { AgentEvent } from '../../../events/envelope.js'
import { lingerSchedule } from '../../../linger.js'
import { isDatabaseError, withClient, type PgPool, type PgPoolClient } from '../../external/postgres.js'
import { dropPartitions, ensurePartitions } from './partitions.js'
import { RunPlanner, type KnownRun } from './runs.js'
import { RunConflictError, type EventStore, type OutboxEntry, type RunRecord, type StoredEvent, type StreamPosition, type UnitOutcome } from './store.js'

/** A retry later than this may be stored again: the window keeps the duplicate check to the newest partitions. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3600_000
/** Plans made again when a concurrent writer changed what the plan read; beyond this the group fails (and is retried). */
const MAX_REPLANS = 5
/**
 * Runs this instance planned or read lately, kept so that a group whose runs are all known is planned without a
 * read (see `append`). A few minutes of a busy instance's runs; an entry older than its TTL is read again.
 */
const RUN_CACHE = { max: 50_000, ttl: 5 * 60_000 }
/** PostgreSQL's answer when the plan no longer holds under the locks (migrations/004). */
export const STALE_PLAN = 'AEG01'

/**
 * The ingest statements give up on a connection that stops answering (a half-open socket, a frozen server): the
 * group then goes again on a fresh connection, instead of every request of the instance waiting forever.
 */
export const STATEMENT_TIMEOUT_MS = 10_000

// Named statements: parsed and planned once per connection, not once per group.
const READ_PLAN = { name: 'aeg_read_plan', query_timeout: STATEMENT_TIMEOUT_MS, text: 'SELECT k, id, u, seq, epoch, status, ended, body FROM read_plan($1, $2, $3)' }
const APPEND = {
  name: 'aeg_append',
  query_timeout: STATEMENT_TIMEOUT_MS,
  text: 'SELECT user_id, base, epoch, outbox_id FROM append_events($1::json, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)'
}
const POSITIONS = { name: 'aeg_positions', text: 'SELECT user_id, seq, epoch FROM user_streams WHERE user_id = ANY ($1::text[])' }
// Each user's oldest kept offset, a probe of the (user_id, seq) index per user and partition. Named like the rest:
// planned once per connection, where an unnamed statement was planned over every partition on each call (0.6 ms,
// ten times its execution).
const EARLIEST = {
  name: 'aeg_earliest',
  text: 'SELECT u.id AS user_id, (SELECT min(e.seq) FROM events e WHERE e.user_id = u.id) AS seq FROM unnest($1::text[]) AS u(id)'
}

const EVENT_COLUMNS = 'e.seq, s.epoch, e.body'
const RANGE = {
  name: 'aeg_range',
  text: `SELECT ${EVENT_COLUMNS} FROM events e JOIN user_streams s USING (user_id)
    WHERE e.user_id = $1 AND e.seq BETWEEN $2 AND $3 ORDER BY e.seq LIMIT $4`
}

// SQLSTATE classes that can be about a statement's data: 22 data exception, 23 integrity constraint, 54 program
// limit exceeded (a row or an index entry too large). Anything else — the connection, the server's state, or a
// fault of ours (42 syntax, XX internal) — is never blamed on the data: it is tried again, never dead-lettered.
const ABOUT_THE_DATA = new Set(['22', '23', '54'])

/**
 * Marks an error for the group commit: `transient` (try again later) unless the server refused the statement for
 * a reason that may be the data's; `outcomeUnknown` when the connection went while the write was on its way —
 * an answer from the server (any DatabaseError) means the statement, and so its commit, did not happen.
 */
function classify (err: unknown, writing: boolean): unknown {
  if (isDatabaseError(err)) {
    if (!ABOUT_THE_DATA.has(String(err.code).slice(0, 2))) Object.assign(err, { transient: true })
    return err
  }
  return Object.assign(err as object, { transient: true, outcomeUnknown: writing })
}

interface EventRow { seq: string, epoch: string, body: AgentEvent }
const rowToEvent = (row: EventRow): StoredEvent => ({ ...row.body, seq: Number(row.seq), epoch: row.epoch })

interface PlanRow { k: 'e' | 'r', id: string, u: string, seq: string | null, epoch: string | null, status: string | null, ended: boolean | null, body: AgentEvent | null }

/** An accepted new event: where it goes in its user's group (1-based), and who waits for it. */
interface Fresh { event: AgentEvent, ord: number }

/** Decides, unit by unit, what is new, what is a duplicate and what a run refuses; nothing is written yet. */
function planGroup (units: AgentEvent[][], dups: Map<string, StoredEvent>, known: Map<string, KnownRun>) {
  const planner = new RunPlanner(known)
  const counts = new Map<string, number>()
  const claimed = new Map<string, Fresh>()
  const fresh: Fresh[] = []
  const plans = units.map((unit) => {
    const mine: Fresh[] = []
    const again: Array<StoredEvent | Fresh> = []
    const tentative = new Map<string, number>()
    for (const event of unit) {
      const seen = dups.get(event.event_id) ?? claimed.get(event.event_id)
      if (seen) { again.push(seen); continue }
      const user = event.context.user_id
      const ord = (tentative.get(user) ?? counts.get(user) ?? 0) + 1
      tentative.set(user, ord)
      mine.push({ event, ord })
    }
    const conflict = planner.tryUnit(mine.map((f) => f.event), (i) => mine[i]!.ord)
    if (conflict) {
      // Named by its place in the unit as the producer sent it.
      const index = unit.indexOf(mine[conflict.index]!.event)
      return { conflict: new RunConflictError(index, conflict.runId, conflict.reason) }
    }
    for (const [user, ord] of tentative) counts.set(user, ord)
    for (const f of mine) { claimed.set(f.event.event_id, f); fresh.push(f) }
    return { mine, again }
  })
  return { plans, fresh, counts, runs: planner.result() }
}

export function createPgStore (pool: PgPool): EventStore {
  // The database's epoch: a user with no row yet is at seq 0 of it, and their first event creates the row in it.
  let epoch: Promise<string> | undefined
  const dbEpoch = async (): Promise<string> => {
    epoch ??= pool.query<{ epoch: string }>('SELECT epoch FROM stream_epoch').then((r) => r.rows[0]!.epoch)
    return await epoch.catch((err: unknown) => { epoch = undefined; throw err })
  }
  // Sockets connecting at about the same time share one read: a read costs the gateway about 250 µs of CPU, half
  // of a connect's extra over a bare socket, so reads that follow each other closely linger for company.
  const positions = new DataLoader<string, StreamPosition>(async (users) => {
    const { rows } = await pool.query<{ user_id: string, seq: string, epoch: string }>({ ...POSITIONS, values: [[...new Set(users)]] })
    const found = new Map(rows.map((r) => [r.user_id, { seq: Number(r.seq), epoch: r.epoch }]))
    const start = found.size === users.length ? '' : await dbEpoch()
    return users.map((u) => found.get(u) ?? { seq: 0, epoch: start })
  }, { cache: false, batchScheduleFn: lingerSchedule() })
  const reading = new Map<string, Promise<StreamPosition>>()
  // Resumes read it with their position: after a deploy, thousands of sockets resume together, and each read its
  // own before.
  const earliestReads = new DataLoader<string, number | null>(async (users) => {
    const { rows } = await pool.query<{ user_id: string, seq: string | null }>({ ...EARLIEST, values: [[...new Set(users)]] })
    const found = new Map(rows.map((r) => [r.user_id, r.seq === null ? null : Number(r.seq)]))
    return users.map((u) => found.get(u) ?? null)
  }, { cache: false, batchScheduleFn: lingerSchedule() })

  // The runs as this instance last saw them: written by its own groups, or read by their plans.
  const runCache = new LRUCache<string, KnownRun>(RUN_CACHE)
  /**
   * Notes a run's state; an entry that already says the same is left as it is (and ages out at its TTL): most
   * groups leave their runs as they were, and a new object per run and group lived long enough to be promoted.
   */
  const remember = (runId: string, userId: string, status: string, ended: boolean): void => {
    const was = runCache.get(runId)
    if (was?.user_id === userId && was.status === status && (was.ended_at !== null) === ended) return
    runCache.set(runId, { user_id: userId, status, ended_at: ended ? 'ended' : null })
  }
  /** The group's runs, when every one of them is in the cache; undefined otherwise. */
  const cachedRuns = (runIds: string[]): Map<string, KnownRun> | undefined => {
    const known = new Map<string, KnownRun>()
    for (const id of runIds) {
      const run = runCache.get(id)
      if (run === undefined) return undefined
      known.set(id, run)
    }
    return known
  }

  /** Plans on `cached` runs without a read when given (and no duplicates assumed), else on a read of the log. */
  async function appendOnce (client: PgPoolClient, units: AgentEvent[][], ids: string[], runIds: string[], cached?: Map<string, KnownRun>): Promise<{ outcomes: UnitOutcome[], outboxId?: string } | undefined> {
    const dups = new Map<string, StoredEvent>()
    let known = cached
    if (known === undefined) {
      const read = await client.query<PlanRow>({ ...READ_PLAN, values: [ids, new Date(Date.now() - IDEMPOTENCY_WINDOW_MS), runIds] })
        .catch((err: unknown) => { throw classify(err, false) })
      known = new Map<string, KnownRun>()
      for (const r of read.rows) {
        if (r.k === 'e') dups.set(r.id, rowToEvent({ seq: r.seq!, epoch: r.epoch!, body: r.body! }))
        else {
          known.set(r.id, { user_id: r.u, status: r.status!, ended_at: r.ended === true ? 'ended' : null })
          remember(r.id, r.u, r.status!, r.ended === true)
        }
      }
    }
    const { plans, fresh, counts, runs } = planGroup(units, dups, known)
    // A refusal on the cache's word alone may be a retry of a stored event (a duplicate, not a conflict): read.
    if (cached !== undefined && plans.some((p) => 'conflict' in p)) return undefined

    const placed = new Map<AgentEvent, StoredEvent>()
    let outboxId: string | undefined
    if (fresh.length > 0) {
      const users = [...counts.keys()].sort()
      const start = await dbEpoch().catch((err: unknown) => { throw classify(err, false) })
      let result
      try {
        result = await client.query<{ user_id: string, base: string, epoch: string, outbox_id: string }>({
          ...APPEND,
          values: [
            // One serialization for the whole group, the bodies inside it (see append_events).
            JSON.stringify(fresh.map(({ event: x, ord }) => ({
              id: x.event_id, u: x.context.user_id, th: x.context.thread_id, r: x.context.run_id, rq: x.context.request_id, ty: x.type, ts: x.timestamp, o: ord, body: x
            }))),
            users, users.map((u) => counts.get(u)!),
            runs.map((r) => r.run_id), runs.map((r) => r.user_id), runs.map((r) => r.thread_id), runs.map((r) => r.expect),
            runs.map((r) => r.status), runs.map((r) => r.ended), runs.map((r) => r.events), runs.map((r) => r.last),
            start, new Date(Date.now() - IDEMPOTENCY_WINDOW_MS)
          ]
        })
      } catch (err) {
        if ((err as { code?: string }).code === STALE_PLAN) return undefined
        throw classify(err, true)
      }
      // What this group made of its runs is what the next group will expect of them.
      for (const r of runs) remember(r.run_id, r.user_id, r.status, r.ended)
      const bases = new Map(result.rows.map((r) => [r.user_id, { base: Number(r.base), epoch: r.epoch }]))
      outboxId = result.rows[0]?.outbox_id
      for (const f of fresh) {
        const b = bases.get(f.event.context.user_id)!
        placed.set(f.event, { ...f.event, seq: b.base + f.ord, epoch: b.epoch })
      }
    }
    const stored = (x: StoredEvent | Fresh): StoredEvent => 'ord' in x ? placed.get(x.event)! : x
    const outcomes = plans.map((p): UnitOutcome => 'conflict' in p
      ? { ok: false, conflict: p.conflict! }
      : { ok: true, stored: p.mine.map(stored), duplicates: p.again.map(stored) })
    return { outcomes, outboxId }
  }

  return {
    kind: 'postgres',

    async append (units) {
      const ids = [...new Set(units.flatMap((u) => u.map((e) => e.event_id)))]
      const runIds = [...new Set(units.flatMap((u) => u.map((e) => e.context.run_id)))]
      // Without a read when this instance knows every run of the group (the common case: a run's events follow
      // each other). What the cache cannot know, append_events checks under its locks: a run that moved on
      // elsewhere, an event stored before (a producer's retry). Either refuses the plan (AEG01), and the group
      // is planned again on a read, as is a group the cache would refuse a unit of (that unit may be a retry).
      let cached = cachedRuns(runIds)
      for (let attempt = 0; attempt < MAX_REPLANS + (cached ? 1 : 0); attempt++) {
        // Failing to get a connection means nothing was sent, so nothing stored.
        let connected = false
        const done = await withClient(pool, async (client) => {
          connected = true
          return await appendOnce(client, units, ids, runIds, cached)
        }).catch((err: unknown) => { throw connected ? err : classify(err, false) })
        if (done) return done
        cached = undefined
      }
      throw Object.assign(new Error('concurrent writers kept changing the runs or events of this group'), { transient: true })
    },

    async position (userId) {
      // Sockets of one user connecting together wait for the same read.
      let read = reading.get(userId)
      if (!read) {
        read = positions.load(userId).finally(() => reading.delete(userId))
        reading.set(userId, read)
      }
      return { ...await read }
    },

    async range (userId, from, to, limit) {
      const { rows } = await pool.query<EventRow>({ ...RANGE, values: [userId, from, to, limit] })
      return rows.map(rowToEvent)
    },

    async earliest (userId) {
      return await earliestReads.load(userId)
    },

    async threadEvents (userId, threadId, after, limit) {
      const { rows } = await pool.query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events e JOIN user_streams s USING (user_id)
         WHERE e.thread_id = $1 AND e.user_id = $2 AND e.seq > $3 ORDER BY e.seq LIMIT $4`, [threadId, userId, after, limit])
      if (rows.length > 0) return rows.map(rowToEvent)
      // Empty page: a thread the user has (nothing newer), or one that is not theirs (404).
      const owned = await pool.query('SELECT 1 FROM events WHERE thread_id = $1 AND user_id = $2 LIMIT 1', [threadId, userId])
      return owned.rowCount === 0 ? null : []
    },

    async queueRun (c) {
      await pool.query(`INSERT INTO runs (run_id, user_id, thread_id, status) VALUES ($1, $2, $3, 'queued')
        ON CONFLICT (run_id) DO NOTHING`, [c.run_id, c.user_id, c.thread_id])
    },

    async run (userId, runId) {
      const { rows } = await pool.query<RunRecord & { last_seq: string | null }>(
        `SELECT run_id, user_id, thread_id, status, started_at, ended_at, events, last_seq FROM runs
         WHERE run_id = $1 AND user_id = $2`, [runId, userId])
      const row = rows[0]
      if (!row) return null
      return {
        ...row,
        started_at: new Date(row.started_at).toISOString(),
        ended_at: row.ended_at === null ? null : new Date(row.ended_at).toISOString(),
        last_seq: row.last_seq === null ? null : Number(row.last_seq)
      }
    },

    async outboxDue (olderThanMs, limit) {
      const { rows } = await pool.query<{ id: string, user_ids: string[], from_seqs: string[], to_seqs: string[] }>(
        `SELECT id, user_ids, from_seqs, to_seqs FROM publish_outbox
         WHERE created_at < now() - make_interval(secs => $1::float8 / 1000) ORDER BY id LIMIT $2`, [olderThanMs, limit])
      return rows.map((r): OutboxEntry => ({
        id: r.id,
        ranges: r.user_ids.map((userId, i) => ({ userId, from: Number(r.from_seqs[i]), to: Number(r.to_seqs[i]) }))
      }))
    },

    async outboxDone (ids) {
      if (ids.length > 0) await pool.query('DELETE FROM publish_outbox WHERE id = ANY ($1::bigint[])', [ids])
    },

    async prune (before) {
      const { partitions, rows } = await dropPartitions(pool, before)
      return { partitions, events: rows }
    },

    async maintain () {
      await ensurePartitions(pool)
    },

    async ping () {
      await pool.query('SELECT 1')
    }
  }
}
