// HTTP params, queries and answers of the history routes: a thread's events after an offset, and a run's status.
import Type from 'typebox'

const Id = Type.String({ minLength: 1, maxLength: 256 })
export const ThreadParamsSchema = Type.Object({ threadId: Id })
export const RunParamsSchema = Type.Object({ runId: Id })

// Offsets are PostgreSQL bigints read back as JavaScript numbers: past 2^53 neither would hold them exactly.
export const ThreadQuerySchema = Type.Object({
  after: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 })
}, { additionalProperties: false })

export const ThreadPageSchema = Type.Object({
  thread_id: Type.String(),
  events: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  /** Pass as `after` for the next page; null when this page was the last. */
  next_after: Type.Union([Type.Integer(), Type.Null()])
})

export const RunSchema = Type.Object({
  run_id: Type.String(),
  thread_id: Type.String(),
  status: Type.String(),
  started_at: Type.String(),
  ended_at: Type.Union([Type.String(), Type.Null()]),
  events: Type.Integer(),
  last_seq: Type.Union([Type.Integer(), Type.Null()])
})
