// POST /api/v1/events: agent backends hand in events (one, or a batch), authenticated as a service.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifySchemaCompiler } from 'fastify'
import { HttpErrors } from '../errors.js'
import { IngestBodySchema, IngestReplySchema } from '../events/schemas.js'
import { parseIngestBody } from '../events/validate.js'
import { EventRejectedError, RunConflictError, StoreUnavailableError } from '../plugins/app/ingest/index.js'

/** Ingest's domain errors as HTTP answers: the only place that knows their status codes. */
function toHttp (err: unknown): unknown {
  if (err instanceof RunConflictError) {
    return Object.assign(new HttpErrors.RunConflict(err.message), { details: { index: err.index, run_id: err.runId } })
  }
  if (err instanceof EventRejectedError) return new HttpErrors.EventRejected(err.message)
  if (err instanceof StoreUnavailableError) {
    return Object.assign(new HttpErrors.StoreUnavailable(err.message), { retryAfter: 1, details: { outcome: err.outcomeUnknown ? 'unknown' : 'not_stored' } })
  }
  return err
}

/**
 * The body schema documents and types the shape, but does not judge it: a generic schema error could not name the
 * event's index and field, so each event is checked by parseIngestBody (validate.ts), which does.
 */
const acceptShape: FastifySchemaCompiler<unknown> = () => () => true

export const INGEST_PATH = '/api/v1/events'

const events: FastifyPluginAsyncTypebox<{ maxBatch: number }> = async (app, opts) => {
  // Inside this scope only: every route here is for services, none for users.
  app.addHook('onRequest', async (request) => {
    if (!app.auth.isService(request)) throw new HttpErrors.ServiceAuthFailed('X-Service-ID and X-Service-Secret are missing or wrong')
  })

  app.post(INGEST_PATH, {
    schema: { body: IngestBodySchema, response: { 202: IngestReplySchema } },
    validatorCompiler: acceptShape
  }, async (request, reply) => {
    // Each event is validated on its own (validate.ts) so the error names its index and field.
    const batch = parseIngestBody(request.body, opts.maxBatch)
    const result = await app.ingest.submit(batch).catch((err: unknown) => { throw toHttp(err) })
    return await reply.code(202).send(result)
  })
}
export default events
