// The runs plugin: where a user's message goes to become an agent run: the chosen queue, or the in-process agent.
import fp from 'fastify-plugin'
import type { Config } from '../../../config.js'
import { runReferenceAgent } from '../../../agent/reference-agent.js'
import { parseIngestBody } from '../../../events/validate.js'
import type { RunQueue } from './queue.js'

declare module 'fastify' {
  interface FastifyInstance { runs: RunQueue }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  // Used only where no worker is (embedded): the reference agent runs here and its events take the same path as a worker's.
  const emit = async (event: Record<string, unknown>): Promise<void> => {
    await app.ingest.submit(parseIngestBody(event, 1))
  }
  app.decorate('runs', app.backends.runQueue((request, stopped) => {
    runReferenceAgent(request, emit, { stepMs: config.agent.stepMs, stopped })
      .catch((err: unknown) => app.log.warn({ err, run_id: request.context.run_id }, 'reference agent failed'))
  }))
}, { name: 'runs', fastify: '5.x', dependencies: ['backends', 'ingest'] })
