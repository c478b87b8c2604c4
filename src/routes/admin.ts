// POST /api/v1/admin/revoke: an operator closes every socket of a user, or of one token, on every instance.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HttpErrors } from '../errors.js'
import { RevokeReplySchema, RevokeRequestSchema } from '../schemas/auth.js'

const admin: FastifyPluginAsyncTypebox = async (app) => {
  // Inside this scope only: the operator's credential (ADMIN_SECRET), not the agent backends' one that ingest takes:
  // a leaked agent backend can forge events for its users, but cannot sign everyone out.
  app.addHook('onRequest', async (request) => {
    if (!app.auth.isAdmin(request)) throw new HttpErrors.ServiceAuthFailed('X-Admin-Secret is missing or wrong')
  })

  app.post('/api/v1/admin/revoke', {
    schema: { body: RevokeRequestSchema, response: { 202: RevokeReplySchema } }
  }, async (request, reply) => {
    const { user_id: userId, jti } = request.body
    if ((userId === undefined) === (jti === undefined)) {
      throw new HttpErrors.ValidationError(userId === undefined ? 'body/user_id or body/jti: one is required' : 'body/jti: give user_id or jti, not both')
    }
    const { at } = await app.sessions.revoke(userId !== undefined ? { userId } : { jti: jti as string })
    request.log.info({ revoked: userId !== undefined ? 'user' : 'jti', user_id: userId }, 'revocation published')
    const body = userId !== undefined
      ? { revoked: 'user' as const, user_id: userId, revoked_at: at / 1000 }
      : { revoked: 'jti' as const, jti, revoked_at: at / 1000 }
    return await reply.code(202).send(body)
  })
}
export default admin
