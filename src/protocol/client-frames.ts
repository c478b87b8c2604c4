// Client frames as the platform's frontend and tests send them: TypeBox schemas, and where each field may sit.
import Type from 'typebox'
import { Compile } from 'typebox/compile'

const Id = Type.String({ minLength: 1, maxLength: 256 })
const Text = Type.String({ maxLength: 32_000 })
const Payload = Type.Object({
  message: Type.Optional(Text),
  content: Type.Optional(Text),
  text: Type.Optional(Text),
  user_request: Type.Optional(Text),
  thread_id: Type.Optional(Type.Union([Id, Type.Null()])),
  run_id: Type.Optional(Id)
}, { additionalProperties: true })

/** Chat-type frames: the payload is `payload`, else `data`, else the frame itself. */
export const ChatFrameSchema = Type.Object({
  type: Type.String(),
  payload: Type.Optional(Payload),
  data: Type.Optional(Payload),
  message: Type.Optional(Text),
  content: Type.Optional(Text),
  text: Type.Optional(Text),
  user_request: Type.Optional(Text),
  thread_id: Type.Optional(Type.Union([Id, Type.Null()])),
  run_id: Type.Optional(Id),
  client_message_id: Type.Optional(Type.String({ maxLength: 128 }))
}, { additionalProperties: true })
export type ChatFrame = Type.Static<typeof ChatFrameSchema>
const check = Compile(ChatFrameSchema)

export const CHAT_TYPES = new Set(['user_message', 'chat_message', 'chat', 'message', 'user', 'user_input', 'start_agent', 'execute_agent'])
export const THREAD_TYPES = new Set(['switch_thread', 'get_thread_history'])
export const STOP_TYPES = new Set(['stop_agent', 'stop_processing'])

/** The frame as a ChatFrame, or the path and rule of its first problem. */
export function parseChatFrame (frame: unknown): ChatFrame | string {
  if (check.Check(frame)) return frame
  const [error] = check.Errors(frame)
  const path = (error?.instancePath ?? '').split('/').filter(Boolean).join('.') || 'frame'
  return `${path}: ${error?.message ?? 'is invalid'}`
}

type PayloadFields = Type.Static<typeof Payload>

function payloadOf (frame: ChatFrame): PayloadFields {
  return frame.payload ?? frame.data ?? frame
}

/** The user's text: `message`, `content`, `text` or `user_request`, in the payload or at the top level. */
export function messageText (frame: ChatFrame): string | undefined {
  const p = payloadOf(frame)
  return p.message ?? p.content ?? p.text ?? p.user_request ?? frame.message ?? frame.content ?? frame.text ?? frame.user_request
}

export function threadIdOf (frame: ChatFrame): string | undefined {
  return frame.thread_id ?? payloadOf(frame).thread_id ?? undefined
}

export function runIdOf (frame: ChatFrame): string | undefined {
  return frame.run_id ?? payloadOf(frame).run_id
}
