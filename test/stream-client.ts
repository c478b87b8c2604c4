// A test client that keeps one user's stream across reconnects: it resumes from the last offset it holds.
import { Client, token, type Frame } from './helper.js'

const STREAM_TYPES = new Set(['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed', 'agent_error'])

export class StreamClient {
  /** Every stream frame received, across all sockets, in arrival order. */
  readonly events: Frame[] = []
  readonly failures: Frame[] = []
  epoch = ''
  socket: Client | undefined
  private waiters: Array<{ n: number, resolve: () => void }> = []

  constructor (readonly user: string) {}

  get lastSeq (): number { return this.events.length === 0 ? 0 : Number(this.events[this.events.length - 1]!.seq) }

  /** Connects to `base`, resuming after the last offset held if there is one. */
  async connect (base: string): Promise<Frame> {
    const query = this.epoch ? `?since=${this.lastSeq}&epoch=${encodeURIComponent(this.epoch)}` : ''
    const client = await Client.open(`${base}/ws${query}`, { headers: { authorization: `Bearer ${await token(this.user)}` } })
    this.socket = client
    const welcome = await client.next('connection_established')
    if (!this.epoch) this.epoch = String(welcome.data?.epoch)
    client.socket.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as Frame
      if (frame.type === 'resume_failed') this.failures.push(frame)
      if (!STREAM_TYPES.has(frame.type)) return
      this.events.push(frame)
      this.waiters = this.waiters.filter((w) => {
        if (this.events.length < w.n) return true
        w.resolve()
        return false
      })
    })
    return welcome
  }

  /** Drops the socket without a close handshake, as a lost network would. */
  async kill (): Promise<void> {
    const s = this.socket
    this.socket = undefined
    if (!s) return
    s.socket.terminate()
    await s.closed
  }

  async until (n: number, ms = 15000): Promise<void> {
    if (this.events.length >= n) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.user}: ${this.events.length} of ${n} events after ${ms} ms`)), ms)
      this.waiters.push({ n, resolve: () => { clearTimeout(timer); resolve() } })
    })
  }

  seqs (): number[] { return this.events.map((f) => Number(f.seq)) }
}

/** 1..n */
export const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1)
