// The little of a WebSocket the SDK uses, so the browser's, Node 22's global and the `ws` package all fit.

/** A handler type checked bivariantly, so implementations with richer event objects (DOM, `ws`) still fit. */
type Listener<E> = { bivarianceHack (event: E): void }['bivarianceHack']

export interface WebSocketLike {
  readonly readyState: number
  send: (data: string) => void
  close: (code?: number, reason?: string) => void
  onopen: Listener<unknown> | null
  onmessage: Listener<{ data: unknown }> | null
  onclose: Listener<{ code: number, reason: string }> | null
  onerror: Listener<unknown> | null
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

/** readyState values, the same in every implementation. */
export const OPEN = 1

/** The implementation to use: the injected one, else the platform's global (browsers, Node 22+). */
export function resolveWebSocket (injected: WebSocketConstructor | undefined): WebSocketConstructor {
  if (injected) return injected
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (!global) {
    throw new TypeError('no global WebSocket here (Node before 22): pass one, e.g. `new AgentClient({ url, token, WebSocket: (await import(\'ws\')).default })`')
  }
  return global
}

/** Closes `socket` and resolves once it has closed, or after `ms` if the close never comes back. */
export async function closeSocket (socket: WebSocketLike, code: number, reason: string, ms: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    socket.onclose = () => { clearTimeout(timer); resolve() }
    socket.close(code, reason)
  })
}

/** A text frame's payload as a string; binary frames (never sent by the gateway) come back undefined. */
export function frameText (data: unknown): string | undefined {
  if (typeof data === 'string') return data
  // `ws` hands text frames to onmessage as strings; a Buffer here means a binary frame, not ours to read.
  return undefined
}
