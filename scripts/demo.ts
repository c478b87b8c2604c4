// `npm run demo`: starts an embedded gateway, connects alice and bob, runs one agent run for alice, and prints who got what.
import WebSocket from 'ws'
import { buildApp } from '../src/app.js'
import { EMBEDDED_DEFAULTS, loadConfig } from '../src/config.js'
import { signDevToken } from '../src/plugins/app/auth/dev-verifier.js'

const config = loadConfig({ ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', REDIS_URL: '', DATABASE_URL: '' })
const app = await buildApp(config)
await app.listen({ host: '127.0.0.1', port: 0 })
const port = (app.server.address() as { port: number }).port

const foreign = new Map<string, number>()

async function connect (user: string): Promise<WebSocket> {
  const token = await signDevToken(EMBEDDED_DEFAULTS.DEV_JWT_SECRET, user)
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, [`jwt.${Buffer.from(token).toString('base64url')}`])
  socket.on('message', (raw) => {
    const f = JSON.parse(raw.toString()) as Record<string, unknown>
    if (typeof f.user_id === 'string' && f.user_id !== user) foreign.set(user, (foreign.get(user) ?? 0) + 1)
    const detail = f.reasoning ?? f.tool_name ?? f.final_response ?? (f.data as { user_id?: string } | undefined)?.user_id ?? ''
    process.stdout.write(`${user.padEnd(6)} <- ${String(f.type).padEnd(22)} ${String(detail)}\n`)
  })
  await new Promise((resolve) => socket.once('message', resolve))
  return socket
}

const sockets = [await connect('alice'), await connect('bob')]
const context = { user_id: 'alice', thread_id: 'thread_demo_0001', run_id: 'run_demo_0001', request_id: 'req_demo_0001' }
const run = [
  { type: 'agent_started', context, agent_name: 'supervisor' },
  { type: 'agent_thinking', context, agent_name: 'supervisor', reasoning: 'Which regions cost the most this month?' },
  { type: 'tool_executing', context, agent_name: 'data_agent', tool_name: 'query_costs', parameters: { month: '2026-11' } },
  { type: 'tool_completed', context, agent_name: 'data_agent', tool_name: 'query_costs', results: { rows: 3 }, duration: 420 },
  { type: 'agent_completed', context, agent_name: 'supervisor', status: 'completed', final_response: 'europe-west1 is 61% of spend.' }
]
process.stdout.write(`gateway on http://127.0.0.1:${port}; posting alice's run to POST /api/v1/events\n`)
for (const event of run) {
  await fetch(`http://127.0.0.1:${port}/api/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-service-id': config.service.id, 'x-service-secret': config.service.secret },
    body: JSON.stringify(event)
  })
  await new Promise((resolve) => setTimeout(resolve, 150))
}
process.stdout.write(`frames that reached the wrong user: alice ${foreign.get('alice') ?? 0}, bob ${foreign.get('bob') ?? 0}\n`)
for (const s of sockets) s.close()
await app.close()
