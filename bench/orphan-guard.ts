// Preloaded (--import) into the gateway processes: if the bench dies without cleaning up, they stop too.
// The IPC channel closes when the parent is gone; unref'd so it never keeps a finished process alive.
process.channel?.unref()
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'))
