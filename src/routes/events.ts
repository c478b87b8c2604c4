// POST /api/v1/events: agent backends hand in events (one, or a batch), authenticated as a service.
import type { FastifyPluginAsync } from 'fastify'
import { HttpErrors } from '../errors.js'
import { IngestReplySchema } from '../events/schemas.js'
import { parseIngestBody } from '../events/validate.js'
import { ingestEvents } from '../services/ingest.js'

const events: FastifyPluginAsync<{ maxBatch: number }> = async (app, opts) => {
  // Inside this scope only: every route here is for services, none for users.
  app.addHook('onRequest', async (request) => {
    if (!app.auth.isService(request)) throw new HttpErrors.ServiceAuthFailed('X-Service-ID and X-Service-Secret are missing or wrong')
  })

  app.post('/api/v1/events', { schema: { response: { 202: IngestReplySchema } } }, async (request, reply) => {
    // Each event is validated on its own (validate.ts) so the error names its index and field.
    const batch = parseIngestBody(request.body, opts.maxBatch)
    const result = await ingestEvents({ store: app.store, fanout: app.fanout, log: request.log, metrics: app.metrics }, batch)
    return await reply.code(202).send(result)
  })
}
export default events
