// History over HTTP, scoped to the caller: a thread's events after an offset, and a run's status. Another user's is 404.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { idProblem } from '../context/ids.js'
import { HttpErrors } from '../errors.js'
import { toFrame } from '../events/envelope.js'
import { requireUser } from '../plugins/app/auth/index.js'
import { RunParamsSchema, RunSchema, ThreadPageSchema, ThreadParamsSchema, ThreadQuerySchema } from '../schemas/history.js'

/** Ids name rows: one that breaks the id rule (a NUL, a lone surrogate) is a 400 before any query. */
function checkId (where: string, value: string): void {
  const problem = idProblem(value)
  if (problem) throw new HttpErrors.ValidationError(`${where} ${problem}`)
}

const history: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('preHandler', requireUser)

  app.get('/api/v1/threads/:threadId/events', {
    schema: { params: ThreadParamsSchema, querystring: ThreadQuerySchema, response: { 200: ThreadPageSchema } }
  }, async (request) => {
    const { threadId } = request.params
    checkId('params/threadId', threadId)
    const { after, limit } = request.query
    const events = await app.store.threadEvents(request.identity!.userId, threadId, after, limit)
    if (events === null) throw new HttpErrors.NotFound(`thread ${threadId} not found`)
    return {
      thread_id: threadId,
      events: events.map((e) => ({ seq: e.seq, epoch: e.epoch, ...toFrame(e) })),
      next_after: events.length === limit ? events[events.length - 1]!.seq : null
    }
  })

  app.get('/api/v1/runs/:runId', {
    schema: { params: RunParamsSchema, response: { 200: RunSchema } }
  }, async (request) => {
    checkId('params/runId', request.params.runId)
    const run = await app.store.run(request.identity!.userId, request.params.runId)
    if (run === null) throw new HttpErrors.NotFound(`run ${request.params.runId} not found`)
    return run
  })
}
export default history
