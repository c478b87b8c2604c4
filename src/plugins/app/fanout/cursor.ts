// A socket's place in its user's stream: delivers each offset once, in order, filling gaps from history before going on.
import { seqOf } from '../../../events/envelope.js'

export interface StreamPosition { seq: number, epoch: string }

/** Where missed frames come from: the hot history first, the durable log behind it. */
export interface StreamSource {
  position: (userId: string) => Promise<StreamPosition>
  earliest: (userId: string) => Promise<number | null>
  /** Frames with from <= seq <= to, ascending, as far as they are kept. */
  frames: (userId: string, from: number, to: number) => Promise<Buffer[]>
}

export type ResumeFailure = 'epoch_changed' | 'history_expired' | 'ahead_of_stream'

/**
 * What a cursor reports to, for its socket `S` (the registry). One shared object with methods, rather than
 * closures per socket: with 10,000 sockets the closures would cost more memory than the cursors.
 */
export interface CursorOwner<S> {
  /** Writes one live wire frame to the socket. */
  write: (socket: S, frame: Buffer) => void
  /**
   * Writes one frame of a catch-up (replay, gap, backlog). When the socket's buffer is past its mark, returns a
   * promise that settles once it has drained (or the socket is gone): the catch-up waits instead of piling up.
   */
  replay: (socket: S, frame: Buffer) => Promise<void> | undefined
  /** Tells the client its history could not be replayed, with the current position. */
  failed: (socket: S, reason: ResumeFailure, position: StreamPosition) => void
  /** A resume was accepted: the replay follows. */
  resumed: (socket: S) => void
  /** Too much piled up while catching up: the socket is to be closed so the client resumes. */
  overflow: (socket: S) => void
  isOpen: (socket: S) => boolean
  warn: (socket: S, err: unknown) => void
}

const CHUNK = 1000

export class StreamCursor<S> {
  /** The next offset this socket expects. */
  next = 1
  epoch = ''
  /** Set once the cursor has a position, that is once the socket has had its welcome. */
  started = false
  /** Offsets up to here are known to exist and must be delivered before anything newer. */
  private target = 0
  /** A resume is deciding where to start: live frames wait. */
  private held = false
  /** A catch-up is fetching history: live frames wait behind it. */
  private running = false
  /** Live frames waiting behind a resume or a catch-up; most sockets never need one. */
  private backlog: Buffer[] | undefined

  constructor (private readonly socket: S, private readonly userId: string, private readonly owner: CursorOwner<S>,
    private readonly source: StreamSource, private readonly maxBacklog: number) {}

  /** Starts live at `position`: what came before is history the client did not ask for. */
  startAt (position: StreamPosition): void {
    this.next = position.seq + 1
    this.target = position.seq
    this.epoch = position.epoch
    this.started = true
  }

  /** Holds live frames until a resume decides where this socket starts. */
  hold (): void { this.held = true }

  /** Goes live: what was held is delivered from the current position on. */
  release (): void {
    this.held = false
    this.catchUpTo(this.target)
  }

  /**
   * A live frame from the broker; false when it is dropped as one this socket already has (a repeated publish).
   * The common case, the next offset, costs one comparison.
   */
  offer (frame: Buffer, seq: number): boolean {
    if (this.held || this.running) {
      this.queue(frame)
      return true
    }
    if (seq < this.next) return false
    if (seq === this.next) {
      this.owner.write(this.socket, frame)
      this.next++
      return true
    }
    // Something between next and seq went missing in flight: fetch it before going on.
    this.queue(frame)
    this.catchUpTo(seq - 1)
    return true
  }

  private queue (frame: Buffer): void {
    const backlog = this.backlog ??= []
    if (backlog.length >= this.maxBacklog) { this.owner.overflow(this.socket); return }
    backlog.push(frame)
  }

  /** Ensures everything up to `seq` is delivered (after a broker reconnect, or a gap). */
  catchUpTo (seq: number): void {
    this.target = Math.max(this.target, seq)
    if (this.running || this.held) return
    this.running = true
    this.run().catch((err: unknown) => this.owner.warn(this.socket, err))
  }

  /** Replays from `since` (exclusive) if the stream still holds it; otherwise says why and goes live. */
  async resume (since: number, epoch: string): Promise<void> {
    this.hold()
    try {
      const position = await this.source.position(this.userId)
      this.epoch = position.epoch
      let failure: ResumeFailure | undefined
      if (epoch !== position.epoch) failure = 'epoch_changed'
      else if (since > position.seq) failure = 'ahead_of_stream'
      else if (since < position.seq) {
        const earliest = await this.source.earliest(this.userId)
        if (earliest === null || earliest > since + 1) failure = 'history_expired'
      }
      if (failure) this.owner.failed(this.socket, failure, position)
      else this.owner.resumed(this.socket)
      this.next = failure ? position.seq + 1 : since + 1
      this.target = Math.max(this.target, position.seq)
    } finally {
      this.held = false
      this.catchUpTo(this.target)
    }
  }

  private async run (): Promise<void> {
    // Cleared as the loop ends, not a microtask later: a frame offered in between would wait for the next catch-up.
    try {
      for (;;) {
        while (this.next <= this.target) {
          if (!this.owner.isOpen(this.socket)) return
          const to = Math.min(this.target, this.next + CHUNK - 1)
          const frames = await this.source.frames(this.userId, this.next, to)
          const before = this.next
          for (const frame of frames) {
            const drained = this.deliverInOrder(frame)
            if (drained !== undefined) {
              await drained
              if (!this.owner.isOpen(this.socket)) return
            }
          }
          if (this.next === before) {
            // Not kept anywhere any more (retention): say so rather than leave a silent hole.
            this.owner.failed(this.socket, 'history_expired', { seq: this.target, epoch: this.epoch })
            this.next = to + 1
          }
        }
        // Live frames that waited: taken as a batch, since more may arrive while the socket drains.
        const batch = this.backlog
        this.backlog = undefined
        if (batch === undefined || batch.length === 0) return
        batch.sort((a, b) => (seqOf(a) ?? 0) - (seqOf(b) ?? 0))
        let i = 0
        for (; i < batch.length; i++) {
          const seq = seqOf(batch[i]!)
          if (seq !== undefined && seq > this.next) break
          const drained = this.deliverInOrder(batch[i]!)
          if (drained !== undefined) {
            await drained
            if (!this.owner.isOpen(this.socket)) return
          }
        }
        // What is left starts past a gap: it goes back in front of what arrived meanwhile, and the gap is fetched.
        const rest = batch.slice(i)
        if (rest.length > 0) {
          this.backlog = this.backlog === undefined ? rest : rest.concat(this.backlog)
          this.target = Math.max(this.target, (seqOf(rest[0]!) ?? this.next) - 1)
        }
      }
    } finally {
      this.running = false
    }
  }

  /** Writes the frame if it is the next offset (a promise if the socket must drain first); skips one already delivered. */
  private deliverInOrder (frame: Buffer): Promise<void> | undefined {
    const seq = seqOf(frame)
    if (seq === undefined || seq !== this.next) return undefined
    this.next++
    return this.owner.replay(this.socket, frame)
  }
}
