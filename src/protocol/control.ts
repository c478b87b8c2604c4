// The control channel's messages (revocations): their schema, the builder and the reader; other services may publish them (docs/auth.md).
import Type from 'typebox'
import { Compile } from 'typebox/compile'

export const RevokeMessageSchema = Type.Object({
  type: Type.Literal('revoke'),
  user_id: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  jti: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  /** Epoch milliseconds of the revocation; a user-wide one spares tokens issued later. Default: now. */
  at: Type.Optional(Type.Number({ minimum: 0 }))
})
export type RevokeMessage = Type.Static<typeof RevokeMessageSchema>
const checkRevoke = Compile(RevokeMessageSchema)

/** Whom a revocation is for: every token of a user issued so far, or one token. */
export type RevokeTarget = { userId: string } | { jti: string }

export function revokeMessage (target: RevokeTarget, at: number): RevokeMessage {
  return 'userId' in target ? { type: 'revoke', user_id: target.userId, at } : { type: 'revoke', jti: target.jti, at }
}

/** A control message read: its target and time (now when it names none), or undefined when malformed. */
export function parseRevokeMessage (raw: string, now: number): { target: RevokeTarget, at: number } | undefined {
  let message: unknown
  try { message = JSON.parse(raw) } catch { return undefined }
  if (!checkRevoke.Check(message)) return undefined
  const at = message.at ?? now
  if (message.user_id !== undefined && message.jti === undefined) return { target: { userId: message.user_id }, at }
  if (message.jti !== undefined && message.user_id === undefined) return { target: { jti: message.jti }, at }
  return undefined
}
