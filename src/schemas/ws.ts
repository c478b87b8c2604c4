// The WebSocket upgrade's query string: a token or a ticket, and where to resume.
import Type from 'typebox'

/**
 * Every value is taken as given (a repeated key is an array) and judged after the upgrade, where the client is
 * answered with a frame and a close code as the contract says, never with an HTTP 400 before it.
 */
export const WsQuerySchema = Type.Object({
  token: Type.Optional(Type.Unknown()),
  ticket: Type.Optional(Type.Unknown()),
  auth_ticket: Type.Optional(Type.Unknown()),
  ticket_id: Type.Optional(Type.Unknown()),
  /** The last offset the client has, with the epoch it belongs to (docs/protocol.md, resume). */
  since: Type.Optional(Type.Unknown()),
  epoch: Type.Optional(Type.Unknown())
}, { additionalProperties: true })
