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

export function registerErrorHandlers (app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError & { details?: unknown, retryAfter?: number }, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500
    if (status >= 500) request.log.error({ err: error }, 'request failed')
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
