// A hashed timer wheel: a due time per item on one coarse timer, fired in bounded slices that let I/O run between them.

// Why not a setTimeout per item: at 10,000 sockets, each with a ping, an expiry warning and an expiry, Node's timer
// objects (and the closures they hold) cost more than the socket's own state, and timers that come due together
// still run back to back in one turn of the loop. Why not a package: the npm wheels are unmaintained single-author
// releases, and none bounds how much it fires in one turn. The models: Netty's HashedWheelTimer (slots of one
// tick, rounds for the far future) and Centrifuge's per-client timers.

import { systemClock, type Clock } from '../../../clock.js'
export { systemClock, type Clock }

export interface WheelOptions<T> {
  /** Resolution: an item fires in the first tick at or after its due time, never before it. */
  tickMs: number
  /** Slots in one turn of the wheel; items further away than a turn wait in their slot for their round. */
  slots: number
  /** Most items fired in one slice; the rest fire in the next slice, after pending I/O had its turn. */
  maxPerSlice: number
  /** Most milliseconds one slice may run, whatever the count. */
  sliceMs: number
  fire: (item: T, now: number) => void
  onError: (err: unknown) => void
  clock?: Clock
}

/** One scheduling of an item; `item` is cleared when it is cancelled or rescheduled, so a stale slot entry holds nothing. */
export interface WheelEntry { item: Scheduled | undefined, tick: number }

/**
 * An item carries its own scheduling, so the wheel needs no map from item to entry: at 10,000 sockets on two
 * wheels, the maps' entries and tables were about 60 bytes a socket. An item is on one wheel at most.
 */
export interface Scheduled { wheelEntry?: WheelEntry | undefined }

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

export class TimerWheel<T extends Scheduled> {
  private readonly slots: WheelEntry[][]
  private count = 0
  private readonly clock: Clock
  /** The last tick whose slot was taken up; anything scheduled now lands after it. */
  private cursor: number
  /** How far the wheel has been asked to run (ms on the clock). */
  private target: number
  /** The run under way, if `active`; a run that finishes without yielding is over before it is stored. */
  private running: Promise<void> = Promise.resolve()
  private active = false
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly opts: WheelOptions<T>) {
    this.clock = opts.clock ?? systemClock
    this.slots = Array.from({ length: opts.slots }, () => [])
    this.target = this.clock.now()
    this.cursor = Math.floor(this.target / opts.tickMs)
  }

  /** Items scheduled and not yet fired or cancelled. */
  get size (): number { return this.count }

  /** (Re)schedules `item` to fire at `at` (ms on the clock); one due time per item. */
  schedule (item: T, at: number): void {
    const old = item.wheelEntry
    if (old !== undefined) old.item = undefined
    else this.count++
    const entry: WheelEntry = { item, tick: Math.max(Math.ceil(at / this.opts.tickMs), this.cursor + 1) }
    item.wheelEntry = entry
    this.slots[entry.tick % this.opts.slots]!.push(entry)
  }

  cancel (item: T): void {
    const entry = item.wheelEntry
    if (entry === undefined) return
    entry.item = undefined
    item.wheelEntry = undefined
    this.count--
  }

  /** Fires everything due by `now`, in slices; resolves when done. Calls made while it runs extend the same run. */
  advance (now = this.clock.now()): Promise<void> {
    this.target = Math.max(this.target, now)
    if (!this.active) this.running = this.run()
    return this.running
  }

  start (): void {
    this.timer = setInterval(() => { this.advance().catch(this.opts.onError) }, this.opts.tickMs)
    this.timer.unref()
  }

  stop (): void { clearInterval(this.timer) }

  private async run (): Promise<void> {
    const { tickMs, slots, maxPerSlice, sliceMs } = this.opts
    let fired = 0
    let sliceStart = performance.now()
    this.active = true
    try {
      while (this.cursor < Math.floor(this.target / tickMs)) {
        // Nothing left to fire: a long idle stretch (or a clock step) is skipped, not walked slot by slot.
        if (this.count === 0) { this.cursor = Math.floor(this.target / tickMs); break }
        const tick = ++this.cursor
        const index = tick % slots
        const slot = this.slots[index]!
        const later: WheelEntry[] = []
        this.slots[index] = later
        for (const entry of slot) {
          if (entry.item === undefined) continue
          if (entry.tick > tick) { later.push(entry); continue }
          if (fired >= maxPerSlice || ((fired & 3) === 3 && performance.now() - sliceStart > sliceMs)) {
            await nextTurn()
            fired = 0
            sliceStart = performance.now()
          }
          // Cancelled or rescheduled while the slice yielded.
          const item = entry.item as T | undefined
          if (item === undefined) continue
          entry.item = undefined
          item.wheelEntry = undefined
          this.count--
          fired++
          try { this.opts.fire(item, this.target) } catch (err) { this.opts.onError(err) }
        }
      }
    } finally {
      this.active = false
    }
  }
}
