// HTTP query and answer of the demo page's dev-token route (embedded and development only).
import Type from 'typebox'

export const DemoTokenQuerySchema = Type.Object({ user: Type.String({ pattern: '^[A-Za-z0-9_.@-]{1,64}$' }) })
export const DemoTokenReplySchema = Type.Object({ token: Type.String(), user_id: Type.String(), expires_in: Type.Integer() })
