// Group commit: units that arrive at about the same time are stored in one transaction, and each is answered alone.
import type { FastifyBaseLogger } from 'fastify'
import type { AgentEvent } from '../../../events/envelope.js'
import type { EventStore, StoredEvent, UnitOutcome } from '../store/store.js'
import { EventRejectedError, StoreUnavailableError } from './errors.js'

export interface UnitResult { stored: StoredEvent[], duplicates: StoredEvent[] }

export interface GroupCommitOptions {
  store: EventStore
  /**
   * Publishes a committed group's new events (one pipeline), and its duplicates where their first publish was lost;
   * `outboxId` is marked done once they are out.
   */
  publish: (events: StoredEvent[], duplicates: StoredEvent[], outboxId: string | undefined) => Promise<void>
  log: FastifyBaseLogger
  /** Most events in one transaction; a unit larger than this goes alone. */
  maxEvents?: number
  /**
   * How long a group that has fewer than `lingerEvents` events waits for company, from its first unit's arrival
   * (Kafka's linger.ms): 0, none (a group is what arrived while the previous one committed, and at least one turn).
   */
  lingerMs?: number
  lingerEvents?: number
  /** Tries of a group when the store is unreachable, and the first pause between them (doubling). */
  attempts?: number
  backoffMs?: number
  sleep?: (ms: number) => Promise<void>
}

interface Pending { events: AgentEvent[], at: number, resolve: (r: UnitResult) => void, reject: (err: Error) => void }

/** The store marks what is worth trying again (the connection, the server's state) and what may have committed. */
const isTransient = (err: unknown): boolean => (err as { transient?: boolean }).transient === true
const outcomeUnknown = (err: unknown): boolean => (err as { outcomeUnknown?: boolean }).outcomeUnknown === true

export class GroupCommit {
  private queue: Pending[] = []
  private flushing = false
  private scheduled = false
  private readonly inFlight = new Set<Promise<void>>()
  private readonly maxEvents: number
  private lingerMs: number
  private readonly lingerEvents: number
  /** Events in the queue. */
  private queued = 0
  /** A linger's wait, ended early once enough events have arrived. */
  private lingering: { timer: NodeJS.Timeout, done: () => void } | undefined
  private readonly attempts: number
  private readonly backoffMs: number
  private readonly sleep: (ms: number) => Promise<void>

  constructor (private readonly opts: GroupCommitOptions) {
    this.maxEvents = opts.maxEvents ?? 2000
    this.lingerMs = opts.lingerMs ?? 0
    this.lingerEvents = Math.min(opts.lingerEvents ?? 100, this.maxEvents)
    this.attempts = opts.attempts ?? 3
    this.backoffMs = opts.backoffMs ?? 50
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)))
  }

  /** Resolves once the unit is committed (stored or all duplicates); rejects with a domain error. */
  submit (events: AgentEvent[]): Promise<UnitResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ events, at: performance.now(), resolve, reject })
      this.queued += events.length
      if (this.lingering !== undefined && this.queued >= this.lingerEvents) this.lingering.done()
      if (!this.flushing && !this.scheduled) {
        // One turn of the event loop: requests parsed in the same I/O phase join the first group.
        this.scheduled = true
        setImmediate(() => {
          this.scheduled = false
          this.flush().catch((err: unknown) => this.opts.log.error({ err }, 'group commit failed'))
        })
      }
    })
  }

  /** Waits for what was submitted and for the publishes of what was committed. */
  async drain (): Promise<void> {
    while (this.flushing || this.scheduled || this.queue.length > 0 || this.inFlight.size > 0) {
      // Shutting down: no group waits for company any more.
      this.lingerMs = 0
      this.lingering?.done()
      await Promise.race([...this.inFlight, new Promise((resolve) => setImmediate(resolve))])
    }
  }

  private async flush (): Promise<void> {
    this.flushing = true
    try {
      // While one group commits, the next gathers: the busier the instance, the larger its groups.
      while (this.queue.length > 0) {
        // Only with a linger: an await per group would otherwise cost every group a turn of the microtask queue.
        if (this.lingerMs > 0) await this.linger()
        let size = 0
        let n = 0
        while (n < this.queue.length && (n === 0 || size + this.queue[n]!.events.length <= this.maxEvents)) size += this.queue[n++]!.events.length
        const group = this.queue.splice(0, n)
        this.queued -= size
        const outcomes = await this.settle(group.map((p) => p.events))
        outcomes.forEach((o, i) => { if (o instanceof Error) group[i]!.reject(o); else group[i]!.resolve(o) })
      }
    } finally {
      this.flushing = false
    }
  }

  /** Waits, while the queue holds fewer than lingerEvents, until lingerMs after its oldest unit arrived. */
  private async linger (): Promise<void> {
    if (this.lingerMs <= 0 || this.queued >= this.lingerEvents) return
    const wait = this.lingerMs - (performance.now() - this.queue[0]!.at)
    if (wait < 1) return
    await new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(this.lingering?.timer); this.lingering = undefined; resolve() }
      this.lingering = { timer: setTimeout(done, wait), done }
    })
  }

  /** Stores units, never throwing: each gets its result or its own error, never a neighbour's. */
  private async settle (units: AgentEvent[][]): Promise<Array<UnitResult | Error>> {
    let committed
    try {
      committed = await this.store(units)
    } catch (err) {
      if (err instanceof StoreUnavailableError) return units.map(() => err)
      // Not the connection: maybe one unit's content. Halve until the unit at fault stands alone.
      if (units.length === 1) {
        this.opts.log.error({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'the event log refused a unit of events')
        return [new EventRejectedError()]
      }
      const mid = units.length >> 1
      return [...await this.settle(units.slice(0, mid)), ...await this.settle(units.slice(mid))]
    }
    const { outcomes, outboxId } = committed
    const out = outcomes.map((o: UnitOutcome): UnitResult | Error => o.ok ? { stored: o.stored, duplicates: o.duplicates } : o.conflict)
    const fresh = outcomes.flatMap((o) => o.ok ? o.stored : [])
    const again = outcomes.flatMap((o) => o.ok ? o.duplicates : [])
    if (fresh.length + again.length > 0) {
      const toPublish = fresh.length + again.length
      // Not awaited by the group: the next one commits while Redis works. Publishes stay in order on one connection.
      const p = this.opts.publish(fresh, again, outboxId)
        .catch((err: unknown) => this.opts.log.warn({ err: { message: (err as Error).message }, events: toPublish }, 'events stored but not published yet; the outbox relay will'))
        .finally(() => this.inFlight.delete(p))
      this.inFlight.add(p)
    }
    return out
  }

  /** One group's transaction, tried again with backoff while the store is unreachable. */
  private async store (units: AgentEvent[][]): Promise<Awaited<ReturnType<EventStore['append']>>> {
    let uncertain = false
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.opts.store.append(units)
        // A try that lost its connection may have committed: its events now read as duplicates, but they are ours.
        if (uncertain) {
          result.outcomes = result.outcomes.map((o) => o.ok ? { ok: true, stored: [...o.stored, ...o.duplicates].sort((a, b) => a.seq - b.seq), duplicates: [] } : o)
        }
        return result
      } catch (err) {
        if (!isTransient(err)) throw err
        uncertain ||= outcomeUnknown(err)
        if (attempt >= this.attempts) throw new StoreUnavailableError(uncertain, { cause: err })
        this.opts.log.warn({ err: { message: (err as Error).message }, attempt }, 'storing events failed; trying again')
        await this.sleep(this.backoffMs * 2 ** (attempt - 1))
      }
    }
  }
}
