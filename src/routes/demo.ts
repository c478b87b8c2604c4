// The demo page at / (embedded and development only): the built page, and dev tokens for the names typed into it.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { contextFieldProblem } from '../context/user-execution-context.js'
import { HttpErrors } from '../errors.js'
import { signDevToken } from '../plugins/app/auth/dev-verifier.js'
import { DemoTokenQuerySchema, DemoTokenReplySchema } from '../schemas/demo.js'

export const DEMO_DIR = fileURLToPath(new URL('../../demo/dist/', import.meta.url))

const demo: FastifyPluginAsyncTypebox<{ devSecret?: string }> = async (app, opts) => {
  if (existsSync(DEMO_DIR)) {
    await app.register(fastifyStatic, { root: DEMO_DIR, prefix: '/', index: ['index.html'] })
  } else {
    app.get('/', async (_request, reply) => reply.type('text/plain').send('The demo page is not built: run `npm run build:demo` (npm start does it for you).\n'))
  }

  // Only where tokens are signed locally: a remote auth service issues its own.
  if (opts.devSecret === undefined) return
  const secret = opts.devSecret
  app.get('/demo/token', {
    schema: { querystring: DemoTokenQuerySchema, response: { 200: DemoTokenReplySchema } }
  }, async (request) => {
    const problem = contextFieldProblem('user_id', request.query.user)
    if (problem) throw new HttpErrors.ValidationError(`querystring/user ${problem}`)
    return { token: await signDevToken(secret, request.query.user, { ttlS: 3600 }), user_id: request.query.user, expires_in: 3600 }
  })
}
export default demo
