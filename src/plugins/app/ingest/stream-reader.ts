// The reader of the ingest stream: holds the lease, reads in stream order, hands entries to ingest, dead-letters bad ones.
import type { FastifyBaseLogger } from 'fastify'
import type { AgentEvent } from '../../../events/envelope.js'
import { parseIngestBody } from '../../../events/validate.js'
import type { RedisClient } from '../../external/redis.js'
import { EventRejectedError, RunConflictError } from './errors.js'

type Entry = [id: string, fields: string[]]
type ReadReply = Array<[key: string, entries: Entry[]]> | null

/** Entries per read: they go into one group commit together, in stream order. */
const BATCH = 1000
const BLOCK_MS = 1000
/** The reader's lease: another instance takes over this long after the reader stops renewing it. */
const LEASE_MS = 5000
/** Pauses after a failed pass: doubling from the first to the last while the store or Redis stays down. */
const BACKOFF_MS = [200, 5000] as const

// Renew or release the lease only if we still hold it.
const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

function field (fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length - 1; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

/** Refusals about the entry itself: it is dead-lettered with the reason and never read again. */
const aboutTheData = (err: unknown): boolean =>
  err instanceof RunConflictError || err instanceof EventRejectedError || (err as { statusCode?: number }).statusCode === 400

export interface StreamReaderOptions {
  key: string
  group: string
  /** This instance's name in the group, and the lease's value. */
  consumer: string
  maxBatch: number
  /** Commands, pipelines and the lease. */
  command: RedisClient
  /** XREADGROUP BLOCK holds its connection: the reader has one of its own. */
  reader: RedisClient
  submit: (events: AgentEvent[]) => Promise<unknown>
  log: FastifyBaseLogger
}

/**
 * Consumers of one group may work in parallel, but then two batches of one run could be stored out of order.
 * So one instance reads at a time (the lease); the group still records what was taken and not acknowledged.
 */
export class StreamReader {
  private running = false
  private leading = false
  private wake: (() => void) | undefined
  private done: Promise<void> = Promise.resolve()
  private readonly lease: string
  private readonly deadKey: string

  constructor (private readonly opts: StreamReaderOptions) {
    this.lease = `${opts.key}:reader`
    this.deadKey = `${opts.key}:dead`
  }

  /** Creates the group (from 0: what workers added before it existed is read too) and starts reading. */
  async start (): Promise<void> {
    const { command, key, group } = this.opts
    await command.xgroup('CREATE', key, group, '0', 'MKSTREAM').catch((err: Error) => {
      if (!err.message.includes('BUSYGROUP')) throw err
    })
    this.running = true
    this.done = this.loop()
  }

  async stop (): Promise<void> {
    this.running = false
    this.wake?.()
    this.opts.reader.disconnect()
    await this.done
    if (this.leading) await this.opts.command.eval(RELEASE, 1, this.lease, this.opts.consumer).catch(() => undefined)
  }

  private async loop (): Promise<void> {
    const { reader, group, consumer, key, log } = this.opts
    let backlog = true // first the entries this consumer holds unacknowledged, then new ones
    let backoff: number = BACKOFF_MS[0]
    while (this.running) {
      try {
        if (!await this.lead()) {
          backlog = true
          await this.pause(LEASE_MS / 5)
          continue
        }
        const reply = await reader.xreadgroup('GROUP', group, consumer, 'COUNT', BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', key, backlog ? '0' : '>') as ReadReply
        const entries = reply?.[0]?.[1] ?? []
        if (backlog && entries.length === 0) backlog = false
        if (entries.length > 0) await this.handle(entries)
        backoff = BACKOFF_MS[0]
      } catch (err) {
        if (!this.running) return
        // Store or Redis trouble: what was not acknowledged is read again from our pending list.
        log.warn({ err: { message: (err as Error).message }, retry_in_ms: backoff }, 'stream ingest failed; retrying')
        backlog = true
        await this.pause(backoff)
        backoff = Math.min(backoff * 2, BACKOFF_MS[1])
      }
    }
  }

  private async lead (): Promise<boolean> {
    const { command, key, group, consumer } = this.opts
    if (this.leading) {
      this.leading = await command.eval(RENEW, 1, this.lease, consumer, LEASE_MS) === 1
    } else if (await command.set(this.lease, consumer, 'PX', LEASE_MS, 'NX') === 'OK') {
      this.leading = true
      // Whatever the previous reader took and did not acknowledge is ours now, first in line.
      let cursor = '0-0'
      do {
        const [next] = await command.xautoclaim(key, group, consumer, 0, cursor, 'COUNT', BATCH, 'JUSTID') as [string, string[]]
        cursor = next
      } while (cursor !== '0-0' && this.running)
      this.opts.log.info('reading the ingest stream')
    }
    return this.leading
  }

  /** Waits, but not past shutdown. */
  private pause (ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wake = () => { clearTimeout(timer); resolve() }
    })
  }

  /**
   * Each entry is its own unit of one group commit (a bad one sinks only itself); entries are submitted in stream
   * order, so a run's events keep it. Acknowledges what was stored or dead-lettered; throws if the store is down.
   */
  private async handle (entries: Entry[]): Promise<void> {
    const { command, key, group, maxBatch, submit } = this.opts
    const done: string[] = []
    const rejected: Array<[id: string, fields: string[], reason: string]> = []
    const units: Array<{ id: string, fields: string[], events: AgentEvent[] }> = []
    for (const [id, fields] of entries) {
      const raw = field(fields, 'event') ?? field(fields, 'events')
      try {
        if (raw === undefined) throw new Error('entry has no "event" field')
        const parsed: unknown = JSON.parse(raw)
        units.push({ id, fields, events: parseIngestBody(Array.isArray(parsed) ? { events: parsed } : parsed, maxBatch) })
      } catch (err) {
        rejected.push([id, fields, (err as Error).message])
      }
    }
    const results = await Promise.allSettled(units.map((u) => submit(u.events)))
    let unavailable: unknown
    results.forEach((r, i) => {
      const u = units[i]!
      if (r.status === 'fulfilled') done.push(u.id)
      else if (aboutTheData(r.reason)) rejected.push([u.id, u.fields, (r.reason as Error).message])
      else unavailable ??= r.reason
    })
    if (rejected.length > 0) {
      const pipeline = command.pipeline()
      for (const [id, fields, reason] of rejected) pipeline.xadd(this.deadKey, 'MAXLEN', '~', '10000', '*', 'id', id, 'reason', reason, ...fields)
      await pipeline.exec()
      done.push(...rejected.map(([id]) => id))
    }
    // Acknowledged and removed: the stream only holds what is still to be stored.
    if (done.length > 0) await command.multi().xack(key, group, ...done).xdel(key, ...done).exec()
    // What the store could not take stays pending: read again from our pending list after a pause.
    if (unavailable !== undefined) throw unavailable
  }
}
