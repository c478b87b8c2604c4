// The outbox relay: whatever was committed and not known to be published is published from the log, by any instance.
import type { FastifyBaseLogger } from 'fastify'
import type { EventStore, StoredEvent } from '../store/store.js'

export interface RelayOptions {
  store: EventStore
  publish: (events: StoredEvent[]) => Promise<void>
  log: FastifyBaseLogger
  /** How often published groups are marked and the outbox is checked. */
  tickMs?: number
  /** A group this old and still in the outbox was not published by the instance that stored it. */
  graceMs?: number
}

/** Ticks between two checks of the outbox (marks are written every tick). */
const CHECK_EVERY = 5
const DUE_LIMIT = 100

export class OutboxRelay {
  private marks: string[] = []
  private timer: NodeJS.Timeout | undefined
  private ticks = 0
  private running: Promise<void> | undefined
  private readonly tickMs: number
  private readonly graceMs: number

  constructor (private readonly opts: RelayOptions) {
    this.tickMs = opts.tickMs ?? 200
    this.graceMs = opts.graceMs ?? 2000
  }

  start (): void {
    this.timer = setInterval(() => { this.tick().catch(() => undefined) }, this.tickMs)
    this.timer.unref()
  }

  /** A group published by its own instance: its outbox row goes with the next tick's single delete. */
  published (outboxId: string): void {
    this.marks.push(outboxId)
  }

  /** One pass: write the marks; every few ticks, publish what is overdue. Never two passes at once. */
  async tick (check = ++this.ticks % CHECK_EVERY === 0): Promise<void> {
    if (this.running) return await this.running
    this.running = this.pass(check).finally(() => { this.running = undefined })
    return await this.running
  }

  private async pass (check: boolean): Promise<void> {
    try {
      const marks = this.marks
      this.marks = []
      if (marks.length > 0) {
        await this.opts.store.outboxDone(marks).catch((err: unknown) => {
          this.marks.push(...marks)
          throw err
        })
      }
      if (!check) return
      const due = await this.opts.store.outboxDue(this.graceMs, DUE_LIMIT)
      for (const entry of due) {
        const events: StoredEvent[] = []
        for (const r of entry.ranges) events.push(...await this.opts.store.range(r.userId, r.from, r.to, r.to - r.from + 1))
        // Published again if its own instance did publish after all: sockets drop an offset they already have.
        await this.opts.publish(events)
        await this.opts.store.outboxDone([entry.id])
        this.opts.log.info({ outbox_id: entry.id, events: events.length }, 'relayed events whose publish had not happened')
      }
    } catch (err) {
      this.opts.log.warn({ err: { message: (err as Error).message } }, 'outbox relay failed; will retry')
    }
  }

  /** Stops the timer and writes the last marks (after any pass under way). */
  async stop (): Promise<void> {
    clearInterval(this.timer)
    await this.running
    await this.tick(false)
  }
}
