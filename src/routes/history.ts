// History over HTTP, scoped to the caller: a thread's events after an offset, and a run's status. Another user's is 404.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { idProblem } from '../context/ids.js'
import { HttpErrors } from '../errors.js'
import { toFrame } from '../events/envelope.js'
import { requireUser } from '../plugins/app/auth/index.js'

const Id = Type.String({ minLength: 1, maxLength: 256 })
// Offsets are PostgreSQL bigints read back as JavaScript numbers: past 2^53 neither would hold them exactly.
const ThreadQuery = Type.Object({
  after: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 })
}, { additionalProperties: false })
const ThreadPage = Type.Object({
  thread_id: Type.String(),
  events: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  /** Pass as `after` for the next page; null when this page was the last. */
  next_after: Type.Union([Type.Integer(), Type.Null()])
})
const Run = Type.Object({
  run_id: Type.String(),
  thread_id: Type.String(),
  status: Type.String(),
  started_at: Type.String(),
  ended_at: Type.Union([Type.String(), Type.Null()]),
  events: Type.Integer(),
  last_seq: Type.Union([Type.Integer(), Type.Null()])
})

/** Ids name rows: one that breaks the id rule (a NUL, a lone surrogate) is a 400 before any query. */
function checkId (where: string, value: string): void {
  const problem = idProblem(value)
  if (problem) throw new HttpErrors.ValidationError(`${where} ${problem}`)
}

const history: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('preHandler', requireUser)

  app.get('/api/v1/threads/:threadId/events', {
    schema: { params: Type.Object({ threadId: Id }), querystring: ThreadQuery, response: { 200: ThreadPage } }
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
    schema: { params: Type.Object({ runId: Id }), response: { 200: Run } }
  }, async (request) => {
    checkId('params/runId', request.params.runId)
    const run = await app.store.run(request.identity!.userId, request.params.runId)
    if (run === null) throw new HttpErrors.NotFound(`run ${request.params.runId} not found`)
    return run
  })
}
export default history
