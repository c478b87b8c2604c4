// HTTP bodies and answers of the auth routes: WebSocket tickets and admin revocation.
import Type from 'typebox'
import { IdSchema } from '../context/ids.js'

/** POST /api/websocket/ticket, as the platform's frontend sends it; permissions and metadata are accepted and ignored. */
export const TicketRequestSchema = Type.Object({
  ttl_seconds: Type.Integer({ minimum: 30, maximum: 3600, default: 300 }),
  single_use: Type.Optional(Type.Literal(true)),
  permissions: Type.Optional(Type.Array(Type.String())),
  metadata: Type.Optional(Type.Object({}, { additionalProperties: true }))
})

export const TicketReplySchema = Type.Object({
  ticket_id: Type.String(),
  /** Epoch seconds. */
  expires_at: Type.Number(),
  created_at: Type.Number(),
  /** The ticket's life: the asked ttl_seconds, or less when the token expires sooner. */
  ttl_seconds: Type.Integer(),
  single_use: Type.Literal(true),
  websocket_url: Type.String()
})

/** POST /api/v1/admin/revoke: exactly one of user_id (every token of the user issued so far) and jti (one token). */
export const RevokeRequestSchema = Type.Object({
  user_id: Type.Optional(IdSchema),
  jti: Type.Optional(IdSchema)
})

export const RevokeReplySchema = Type.Object({
  revoked: Type.Union([Type.Literal('user'), Type.Literal('jti')]),
  user_id: Type.Optional(Type.String()),
  jti: Type.Optional(Type.String()),
  /** Epoch seconds; a user-wide revocation refuses the tokens issued up to this moment. */
  revoked_at: Type.Number()
})
