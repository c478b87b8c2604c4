// Client frames as the platform's frontend and tests send them: TypeBox schemas, and where each field may sit.
import Type from 'typebox'
import { Compile } from 'typebox/compile'
import { idProblem } from '../context/ids.js'

// Loose here; parseChatFrame applies the id rule with its own message (the ids name keys and rows).
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

export const CHAT_TYPES: ReadonlySet<string> = new Set(['user_message', 'chat_message', 'chat', 'message', 'user', 'user_input', 'start_agent', 'execute_agent'])
export const THREAD_TYPES: ReadonlySet<string> = new Set(['switch_thread', 'get_thread_history'])
export const STOP_TYPES: ReadonlySet<string> = new Set(['stop_agent', 'stop_processing'])

/** The frame as a ChatFrame, or the path and rule of its first problem. */
export function parseChatFrame (frame: unknown): ChatFrame | string {
  if (check.Check(frame)) return idsProblem(frame) ?? frame
  const [error] = check.Errors(frame)
  const path = (error?.instancePath ?? '').split('/').filter(Boolean).join('.') || 'frame'
  return `${path}: ${error?.message ?? 'is invalid'}`
}

type PayloadFields = Type.Static<typeof Payload>

const ID_FIELDS = ['thread_id', 'run_id'] as const

/** The first thread or run id, at the top or in a payload, that breaks the id rule. */
function idsProblem (frame: ChatFrame): string | undefined {
  const places: Array<[string, PayloadFields | undefined]> = [['', frame], ['payload.', frame.payload], ['data.', frame.data]]
  for (const [where, place] of places) {
    for (const field of ID_FIELDS) {
      const value = place?.[field]
      if (value === undefined || value === null) continue
      const problem = idProblem(value)
      if (problem) return `${where}${field}: ${problem}`
    }
  }
  return undefined
}

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
