// What the suite runs against, and where its users' tokens come from; a deployment is named by the E2E_* variables.

export interface Target {
  /** Where to open sockets, e.g. wss://gateway.example.com/ws. */
  wsUrl: string
  /** The gateway's HTTP origin, e.g. https://gateway.example.com (health checks). */
  apiUrl: string
  /** The auth service, when known: its /health is checked and tokens may be minted there. */
  authUrl?: string
  /** Access tokens of `n` distinct users. */
  tokens: (n: number) => Promise<string[]>
  /** A line saying what this is, for the report. */
  label: string
  /** Stops what the suite started; a failed run keeps the local stack's logs for reading. */
  stop: (opts?: { keepLogs?: boolean }) => Promise<void>
}

/** Users whose tokens the e2e endpoint mints: fixed, so a deployment's e2e users do not pile up run after run. */
export const E2E_EMAILS = [1, 2, 3, 4, 5].map((n) => `gateway-e2e-${n}@example.com`)

/** `E2E_TOKENS`: access tokens separated by commas, spaces or newlines, or a JSON array of them. */
export function parseTokens (value: string): string[] {
  const text = value.trim()
  if (text.startsWith('[')) {
    const list = JSON.parse(text) as unknown
    if (!Array.isArray(list) || !list.every((t) => typeof t === 'string')) throw new Error('E2E_TOKENS: a JSON value must be an array of token strings')
    return list
  }
  return text.split(/[\s,]+/).filter((t) => t !== '')
}

/** Mints a token per e-mail through the auth service's `POST /auth/e2e/test-auth` (header `X-E2E-Bypass-Key`). */
export async function mintTokens (authUrl: string, bypassKey: string, emails: string[]): Promise<string[]> {
  return await Promise.all(emails.map(async (email) => {
    const res = await fetch(`${authUrl.replace(/\/$/, '')}/auth/e2e/test-auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-e2e-bypass-key': bypassKey },
      body: JSON.stringify({ email, name: 'Gateway e2e', permissions: ['read', 'write'] }),
      signal: AbortSignal.timeout(10_000)
    })
    if (res.status !== 200) throw new Error(`POST ${authUrl}/auth/e2e/test-auth answered ${res.status}: ${(await res.text()).slice(0, 200)}`)
    const body = await res.json() as { access_token?: unknown, token?: unknown }
    const token = body.access_token ?? body.token
    if (typeof token !== 'string') throw new Error('POST /auth/e2e/test-auth: no access_token in the answer')
    return token
  }))
}

/** ws(s)://host/ws from an http(s) origin, and the origin from a socket URL. */
const wsFromApi = (api: string): string => `${api.replace(/^http/, 'ws').replace(/\/$/, '')}/ws`
const apiFromWs = (ws: string): string => { const u = new URL(ws); return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}` }

/** A deployment from the environment, or undefined when none is named. */
export function remoteTarget (env: NodeJS.ProcessEnv = process.env): Target | undefined {
  const ws = env.E2E_WS_URL || undefined
  const api = env.E2E_API_URL || undefined
  if (ws === undefined && api === undefined) return undefined
  const wsUrl = ws ?? wsFromApi(api!)
  const apiUrl = (api ?? apiFromWs(wsUrl)).replace(/\/$/, '')
  const authUrl = env.E2E_AUTH_URL || undefined
  const given = env.E2E_TOKENS ? parseTokens(env.E2E_TOKENS) : undefined
  const bypassKey = env.E2E_BYPASS_KEY || undefined
  if (given === undefined && (authUrl === undefined || bypassKey === undefined)) {
    throw new Error('E2E_TOKENS, or E2E_AUTH_URL with E2E_BYPASS_KEY, is required when E2E_WS_URL or E2E_API_URL names a deployment')
  }
  return {
    wsUrl,
    apiUrl,
    authUrl,
    label: `deployment ${apiUrl} (sockets ${wsUrl}${authUrl ? `, auth ${authUrl}` : ''}; tokens ${given ? 'from E2E_TOKENS' : 'minted with the e2e bypass key'})`,
    async tokens (n) {
      if (given === undefined) return await mintTokens(authUrl!, bypassKey!, E2E_EMAILS.slice(0, n))
      if (given.length < n) throw new Error(`E2E_TOKENS holds ${given.length} token(s); this check needs ${n} of distinct users`)
      return given.slice(0, n)
    },
    stop: async () => undefined
  }
}
