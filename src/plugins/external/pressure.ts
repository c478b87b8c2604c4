// @fastify/under-pressure for the served routes: an overloaded event loop answers 503 in our error model, with Retry-After.
import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'

const RETRY_AFTER_S = 5

export default fp<{ maxEventLoopDelayMs: number }>(async (app, opts) => {
  await app.register(underPressure, {
    maxEventLoopDelay: opts.maxEventLoopDelayMs,
    retryAfter: RETRY_AFTER_S,
    pressureHandler: (_request, reply, type, value) => {
      reply.header('retry-after', String(RETRY_AFTER_S)).code(503).send({
        statusCode: 503,
        code: 'UNDER_PRESSURE',
        error: 'Service Unavailable',
        message: `the gateway is overloaded (${String(type)} ${Math.round(Number(value))}); retry in ${RETRY_AFTER_S} s`
      })
    }
  })
}, { name: 'pressure', fastify: '5.x' })
