// The child side of the bench's IPC: typed send, and exit when the parent goes away (no orphans under load).

export function send (message: object): void {
  if (process.send) process.send(message)
}

export function onCommand<T> (handler: (command: T) => void | Promise<void>): void {
  process.on('message', (m) => {
    Promise.resolve(handler(m as T)).catch((err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
      process.exit(1)
    })
  })
  process.on('disconnect', () => process.exit(0))
}
