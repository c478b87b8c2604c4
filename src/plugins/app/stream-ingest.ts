// Ingest from a Redis Stream: one instance at a time reads it (a lease), so events keep the order workers added them in.
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { StreamReader } from './ingest/stream-reader.js'

export default fp<{ config: Config }>(async (app, { config }) => {
  const stream = config.ingest.stream
  const connections = app.backends.ingestStream
  if (!stream || !connections) return
  const { key, group } = stream
  const reader = new StreamReader({
    key,
    group,
    consumer: config.instanceId,
    maxBatch: config.ingest.maxBatch,
    command: connections.command,
    reader: await connections.connect(),
    submit: (events) => app.ingest.submit(events),
    log: app.log.child({ stream: key, group })
  })
  await reader.start()
  app.addHook('onClose', async () => { await reader.stop() })
}, { name: 'stream-ingest', fastify: '5.x', dependencies: ['backends', 'ingest'] })
