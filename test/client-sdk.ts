// Test helpers for the client SDK: clients built on `ws`, a counting WebSocket, and awaiting SDK events.
import WS from 'ws'
import { AgentClient, type ClientEvents, type ClientOptions, type WebSocketConstructor } from '../src/client/index.js'

interface Tap {
  teardown: (fn: () => unknown) => void
}

/** `ws` with a count of the sockets the SDK opened and the URLs it opened them to. */
export function countingWebSocket (route: (url: string) => string = (url) => url): WebSocketConstructor & { urls: string[], protocols: Array<string | string[] | undefined> } {
  const urls: string[] = []
  const protocols: Array<string | string[] | undefined> = []
  class Counting extends WS {
    constructor (url: string, offered?: string | string[]) {
      urls.push(url)
      protocols.push(offered)
      super(route(url), offered)
    }
  }
  return Object.assign(Counting as unknown as WebSocketConstructor, { urls, protocols })
}

/** An SDK client on `ws`, with test-friendly backoff, closed at teardown. */
export function sdk (t: Tap, opts: Omit<ClientOptions, 'WebSocket'> & { WebSocket?: WebSocketConstructor }): AgentClient {
  const client = new AgentClient({ WebSocket: WS as unknown as WebSocketConstructor, reconnect: { baseMs: 10, capMs: 100, maxAttempts: 50 }, ...opts })
  t.teardown(() => client.close())
  return client
}

/** The next `name` event matching `match`, failing after `ms`. */
export async function next<K extends keyof ClientEvents> (client: AgentClient, name: K, match: (v: ClientEvents[K]) => boolean = () => true, ms = 10_000): Promise<ClientEvents[K]> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${String(name)} within ${ms} ms`)) }, ms)
    const off = client.on(name, (value) => {
      if (!match(value)) return
      clearTimeout(timer)
      off()
      resolve(value)
    })
  })
}
