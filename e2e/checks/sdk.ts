// The published client SDK against the deployment: connect (token as subprotocol), send, the run's five events in order.
import WebSocket from 'ws'
import { AgentClient, type AgentEvent, type WebSocketConstructor } from '../../src/client/index.js'
import { fmtMs, GOLDEN_PATH, SLA, type Report } from '../report.js'
import type { Target } from '../target.js'

const CHECK = 'client SDK: connect, send, five events in order'

export async function sdk (target: Target, report: Report): Promise<void> {
  const [token] = await target.tokens(2).then((t) => t.slice(1))
  const client = new AgentClient({ url: target.wsUrl, token: token!, WebSocket: WebSocket as unknown as WebSocketConstructor, reconnect: false })
  const events: AgentEvent[] = []
  client.on('event', (e) => events.push(e))
  const started = performance.now()
  try {
    await client.connect()
    const { run_id: runId } = await client.send('What changed in our storage bill?')
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no agent_completed within ${fmtMs(SLA.allEventsMs)} (got ${events.map((e) => e.type).join(', ')})`)), SLA.allEventsMs)
      const off = client.on('agent_completed', (e) => {
        if (e.run_id !== runId) return
        clearTimeout(timer)
        off()
        resolve()
      })
    })
    const types = events.filter((e) => e.run_id === runId).map((e) => e.type)
    const inOrder = JSON.stringify(types.filter((t) => (GOLDEN_PATH as readonly string[]).includes(t))) === JSON.stringify(GOLDEN_PATH)
    report.timed(CHECK, performance.now() - started, SLA.allEventsMs, inOrder, inOrder ? `run ${runId}` : `got ${types.join(', ')}`)
  } catch (err) {
    report.fail(CHECK, `≤ ${fmtMs(SLA.allEventsMs)}`, err)
  } finally {
    await client.close()
  }
}
