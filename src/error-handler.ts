// One error handler: every HTTP error leaves as {statusCode, code, error, message, details?}; 5xx details stay in the log.
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance } from 'fastify'

// Fastify's own codes, renamed so clients see one vocabulary.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_VALIDATION: 'VALIDATION_ERROR',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_BODY'
}

/** Whether a refusal of this code is the first of its window (10 s), per app. */
class RefusalWindow {
  private readonly seen = new Map<string, number>()
  constructor (private readonly windowMs = 10_000, private readonly now: () => number = Date.now) {}
  first (code: string): boolean {
    const at = this.now()
    const last = this.seen.get(code)
    if (last !== undefined && at - last < this.windowMs) return false
    this.seen.set(code, at)
    return true
  }
}

export function registerErrorHandlers (app: FastifyInstance): void {
  const refusals = new RefusalWindow()
  app.setErrorHandler((error: FastifyError & { details?: unknown, retryAfter?: number }, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
    // A refusal we chose (over capacity, draining, rate limited) is no fault: one info line per code a window, no stack.
    const refusal = (status === 503 || status === 429) && error.statusCode !== undefined
    if (refusal) {
      if (refusals.first(error.code ?? String(status))) request.log.info({ code: error.code, message: error.message }, 'requests refused (logged once a window)')
    } else if (status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ code: error.code, message: error.message }, 'request rejected')
    // Only errors that chose their status carry a code of ours; anything else (a driver's error with PostgreSQL's
    // SQLSTATE in `code`, a bug) is INTERNAL_ERROR, so no database detail ever reaches a client.
    const ours = error.statusCode !== undefined && error.statusCode >= 400
    const code = !ours ? 'INTERNAL_ERROR' : (FASTIFY_CODES[error.code] ?? error.code ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST'))
    const body: Record<string, unknown> = {
      statusCode: status,
      code,
      error: STATUS_CODES[status] ?? 'Error',
      message: status >= 500 && status !== 503 ? 'Internal Server Error' : error.message
    }
    if (error.details !== undefined && status < 500) body.details = error.details
    if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter))
    return reply.code(status).send(body)
  })

  app.setNotFoundHandler((request, reply) => reply.code(404).send({
    statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}`
  }))
}
