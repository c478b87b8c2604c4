// POST /api/websocket/ticket: a signed-in user trades their Bearer token for a short, single-use /ws?ticket=.
import type { FastifyPluginAsync } from 'fastify'
import type Type from 'typebox'
import { HttpErrors } from '../errors.js'
import { requireUser } from '../plugins/app/auth/index.js'
import { TicketReplySchema, TicketRequestSchema } from '../schemas/auth.js'

const tickets: FastifyPluginAsync = async (app) => {
  app.addHook('preValidation', async (request) => {
    // The frontend may post no body at all: that means every default.
    if (request.body === undefined || request.body === null) request.body = {}
  })
  app.addHook('preHandler', requireUser)

  app.post<{ Body: Type.Static<typeof TicketRequestSchema> }>('/api/websocket/ticket', {
    schema: { body: TicketRequestSchema, response: { 200: TicketReplySchema } }
  }, async (request) => {
    const identity = request.identity
    if (identity === null) throw new HttpErrors.AuthFailed('authentication failed')
    // A ticket never outlives the token it was bought with.
    const untilExpiry = identity.expiresAt === undefined ? Infinity : Math.floor(identity.expiresAt - Date.now() / 1000)
    const ttlS = Math.min(request.body.ttl_seconds, untilExpiry)
    if (ttlS < 1) throw new HttpErrors.AuthFailed('the token expires too soon to buy a ticket')
    const ticket = await app.auth.tickets.issue(identity, ttlS)
    request.log.info({ user_id: identity.userId, ttl_s: ttlS }, 'websocket ticket issued')
    return {
      ticket_id: ticket.id,
      expires_at: ticket.expiresAt,
      created_at: ticket.createdAt,
      ttl_seconds: ticket.ttlS,
      single_use: true as const,
      websocket_url: `${request.protocol === 'https' ? 'wss' : 'ws'}://${request.host}/ws?ticket=${ticket.id}`
    }
  })
}
export default tickets
