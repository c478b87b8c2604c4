// POST /api/websocket/ticket: a signed-in user trades their Bearer token for a short, single-use /ws?ticket=.
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpErrors } from '../errors.js'
import { requireUser } from '../plugins/app/auth/index.js'
import { originAllowed } from '../plugins/app/auth/origin.js'
import { TicketReplySchema, TicketRequestSchema } from '../schemas/auth.js'

const PATH = '/api/websocket/ticket'

/**
 * Where the ticket's socket is: the configured public URL, else the address this request arrived on. Never the
 * Host or X-Forwarded-Host headers, which the caller writes.
 */
function socketBase (request: FastifyRequest, publicWsUrl: string | undefined): string {
  if (publicWsUrl !== undefined) return publicWsUrl
  const { localAddress, localPort } = request.raw.socket
  const host = localAddress === undefined ? '127.0.0.1' : localAddress.replace(/^::ffff:/, '')
  return `ws://${host.includes(':') ? `[${host}]` : host}:${localPort ?? 80}`
}

const tickets: FastifyPluginAsyncTypebox<{ allowedOrigins: string[], publicWsUrl?: string, perAddress?: number }> = async (app, opts) => {
  // The frontend calls this from its own origin with an Authorization header, so the browser asks first (CORS).
  // Only the origins allowed to open a socket may buy a ticket from a page; no cookies are involved.
  const cors = (request: FastifyRequest, reply: FastifyReply): void => {
    const origin = request.headers.origin
    reply.header('vary', 'Origin')
    if (origin !== undefined && originAllowed(origin, opts.allowedOrigins)) reply.header('access-control-allow-origin', origin)
  }
  app.options(PATH, async (request, reply) => {
    cors(request, reply)
    return await reply.code(204)
      .header('access-control-allow-methods', 'POST')
      .header('access-control-allow-headers', 'authorization, content-type')
      .header('access-control-max-age', '600')
      .send()
  })

  app.register(async (encapsulated) => {
    // A new scope starts without a type provider: the body is typed from TicketRequestSchema again.
    const scope = encapsulated.withTypeProvider<TypeBoxTypeProvider>()
    scope.addHook('onRequest', async (request, reply) => { cors(request, reply) })
    scope.addHook('preValidation', async (request) => {
      // The frontend may post no body at all: that means every default.
      if (request.body === undefined || request.body === null) request.body = {}
    })
    scope.addHook('preHandler', requireUser)

    scope.post(PATH, {
      schema: { body: TicketRequestSchema, response: { 200: TicketReplySchema } },
      // Ticket requests per client address and window: each one may cost a call to the auth service.
      config: { rateLimit: opts.perAddress ? { max: opts.perAddress } : false }
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
        websocket_url: `${socketBase(request, opts.publicWsUrl)}/ws?ticket=${ticket.id}`
      }
    })
  })
}
export default tickets
