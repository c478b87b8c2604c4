// Frames on their way out: sent at once on an open socket, held (bounded) while disconnected, flushed on the next welcome.
import { RequestError, type Requests } from './requests.js'
import { OPEN, type WebSocketLike } from './socket.js'

export class Outbox {
  private readonly queue: Array<{ text: string, requestId?: number }> = []

  constructor (private readonly requests: Requests, private readonly maxQueued: number) {}

  /** Sends on `socket` if it is open; otherwise holds the frame, or fails its request when the client has stopped or the queue is full. */
  write (frame: Record<string, unknown>, requestId: number | undefined, socket: WebSocketLike | null, stopped: boolean): void {
    const text = JSON.stringify(frame)
    if (socket?.readyState === OPEN) {
      this.transmit(socket, text, requestId)
      return
    }
    if (stopped) {
      if (requestId !== undefined) this.requests.fail(requestId, new RequestError('closed', 'the client is closed'))
      return
    }
    if (this.queue.length >= this.maxQueued) {
      if (requestId !== undefined) this.requests.fail(requestId, new RequestError('queue_full', 'too many frames waiting for a connection'))
      return
    }
    this.queue.push({ text, requestId })
  }

  /** A socket is open again: what waited goes out in order, except requests that gave up meanwhile. */
  flush (socket: WebSocketLike): void {
    for (const item of this.queue.splice(0)) {
      if (item.requestId !== undefined && !this.requests.isPending(item.requestId)) continue
      this.transmit(socket, item.text, item.requestId)
    }
  }

  clear (): void {
    this.queue.length = 0
  }

  private transmit (socket: WebSocketLike, text: string, requestId: number | undefined): void {
    socket.send(text)
    if (requestId !== undefined) this.requests.markSent(requestId)
  }
}
