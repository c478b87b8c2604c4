// Client requests that await an answer (a message's ack, a stop's agent_stopped), matched to it, with a deadline.
import type { Ack, AgentStopped, ServerError } from './frames.js'

/** What a user message started, from its ack. */
export interface SendResult {
  run_id: string
  thread_id: string
  client_message_id: string
}

export type RequestErrorCode =
  /** The server refused the frame (`error`): "Thread not found", "Please enter a message", … */
  | 'rejected'
  /** The server acknowledged the message but reported no run (a gateway without the chat side). */
  | 'no_run'
  /** No answer within `requestTimeoutMs`. */
  | 'timeout'
  /** The socket dropped after the frame was sent: it may or may not have been processed, so it is not resent. */
  | 'disconnected'
  /** `close()` was called, or the client stopped for good. */
  | 'closed'
  /** Too many frames waiting for a connection. */
  | 'queue_full'

export class RequestError extends Error {
  constructor (readonly code: RequestErrorCode, message: string) {
    super(message)
    this.name = 'RequestError'
  }
}

interface Pending {
  kind: 'send' | 'stop'
  /** The client_message_id of a send, the run id of a stop. */
  key: string
  /** True once the frame went out on a socket: only those fail when that socket drops. */
  sent: boolean
  resolve: (value: never) => void
  reject: (err: RequestError) => void
  timer: ReturnType<typeof setTimeout>
}

/**
 * The requests in flight, oldest first. The server answers one socket's frames in order, so an answer that names
 * no request (an `error` frame, an ack from a server that does not echo client_message_id) belongs to the oldest.
 */
export class Requests {
  private readonly pending = new Map<number, Pending>()
  private nextId = 0

  constructor (private readonly timeoutMs: number) {}

  /** Registers a request; `id` names it to `markSent` and `isPending`. */
  add<T>(kind: Pending['kind'], key: string): { id: number, promise: Promise<T> } {
    const id = ++this.nextId
    const promise = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => this.settle(id, new RequestError('timeout', `no answer to ${kind} within ${this.timeoutMs} ms`)), this.timeoutMs)
      this.pending.set(id, { kind, key, sent: false, resolve: resolve as (value: never) => void, reject, timer })
    })
    return { id, promise }
  }

  isPending (id: number): boolean { return this.pending.has(id) }

  markSent (id: number): void {
    const p = this.pending.get(id)
    if (p) p.sent = true
  }

  /** An ack of a user message: resolves its send. Returns false when it answers nothing pending. */
  onAck (ack: Ack): boolean {
    const id = this.find('send', ack.client_message_id)
    if (id === undefined) return false
    const key = this.pending.get(id)!.key
    if (typeof ack.run_id !== 'string' || typeof ack.thread_id !== 'string') {
      this.settle(id, new RequestError('no_run', `the message was acknowledged (${ack.received_type}) but no run was started`))
    } else {
      this.settle(id, undefined, { run_id: ack.run_id, thread_id: ack.thread_id, client_message_id: key })
    }
    return true
  }

  onStopped (frame: AgentStopped): boolean {
    // The SDK's stops name their run; a run-less answer (nothing was running) is not one of theirs.
    const runId = frame.payload?.run_id ?? frame.run_id
    const id = typeof runId === 'string' ? this.find('stop', runId) : undefined
    if (id === undefined) return false
    this.settle(id, undefined, frame)
    return true
  }

  /** A refusal: the request it names, else the oldest one sent. */
  onError (frame: ServerError): boolean {
    const id = frame.client_message_id !== undefined ? this.find('send', frame.client_message_id) : this.oldestSent()
    if (id === undefined) return false
    this.settle(id, new RequestError('rejected', frame.message))
    return true
  }

  /** The socket dropped: what was sent on it cannot be known to have arrived. */
  failSent (err: RequestError): void {
    for (const [id, p] of this.pending) if (p.sent) this.settle(id, err)
  }

  fail (id: number, err: RequestError): void {
    this.settle(id, err)
  }

  failAll (err: RequestError): void {
    for (const id of [...this.pending.keys()]) this.settle(id, err)
  }

  private find (kind: Pending['kind'], key: string | undefined): number | undefined {
    for (const [id, p] of this.pending) {
      if (p.kind !== kind || !p.sent) continue
      if (key === undefined || p.key === key) return id
    }
    return undefined
  }

  private oldestSent (): number | undefined {
    for (const [id, p] of this.pending) if (p.sent) return id
    return undefined
  }

  private settle (id: number, err: RequestError | undefined, value?: unknown): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    clearTimeout(p.timer)
    if (err) p.reject(err)
    else p.resolve(value as never)
  }
}

/** A client_message_id: random where the platform offers it (browsers on http://localhost and https, Node). */
export function newId (): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  if (c?.randomUUID) return `cm_${c.randomUUID()}`
  return `cm_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 12)}`
}
