// A small typed event emitter: handlers keyed by event name, each receiving that event's own type.

export type Handler<T> = (value: T) => void

export class Emitter<Events extends object> {
  private readonly handlers = new Map<keyof Events, Set<Handler<never>>>()

  /** `onError` hears a handler that threw: one bad handler must not stop the others, nor the socket's reader. */
  constructor (private readonly onError: (err: unknown, name: string) => void = defaultReport) {}

  /** Adds a handler; the returned function removes it. */
  on<K extends keyof Events>(name: K, handler: Handler<Events[K]>): () => void {
    let set = this.handlers.get(name)
    if (!set) this.handlers.set(name, set = new Set())
    set.add(handler as Handler<never>)
    return () => this.off(name, handler)
  }

  /** Like `on`, for the next occurrence only. */
  once<K extends keyof Events>(name: K, handler: Handler<Events[K]>): () => void {
    const off = this.on(name, (value) => {
      off()
      handler(value)
    })
    return off
  }

  off<K extends keyof Events>(name: K, handler: Handler<Events[K]>): void {
    this.handlers.get(name)?.delete(handler as Handler<never>)
  }

  /** Calls each handler; one that throws is reported and does not keep the others (or the socket) from running. */
  emit<K extends keyof Events>(name: K, value: Events[K]): void {
    const set = this.handlers.get(name)
    if (!set) return
    for (const handler of [...set]) {
      try {
        (handler as Handler<Events[K]>)(value)
      } catch (err) {
        this.onError(err, String(name))
      }
    }
  }
}

function defaultReport (err: unknown, name: string): void {
  console.error(`agent-event-gateway client: a "${name}" handler threw`, err)
}
