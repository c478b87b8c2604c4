// Health endpoints: the gateway's /health (alive) and /health/ready (Redis and PostgreSQL answer), and the auth service's /health.
import { fmtMs, SLA, type Report } from '../report.js'
import type { Target } from '../target.js'

async function probe (report: Report, check: string, url: string, expect: (body: Record<string, unknown>) => string | undefined): Promise<void> {
  const started = performance.now()
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(SLA.httpMs) })
    const ms = performance.now() - started
    const text = await res.text()
    let body: Record<string, unknown> = {}
    try { body = JSON.parse(text) as Record<string, unknown> } catch { /* judged by the status alone */ }
    const problem = res.status !== 200 ? `HTTP ${res.status}: ${text.slice(0, 160)}` : expect(body)
    report.timed(check, ms, SLA.httpMs, problem === undefined, problem ?? `200 ${JSON.stringify(body).slice(0, 80)}`)
  } catch (err) {
    report.fail(check, `200, ≤ ${fmtMs(SLA.httpMs)}`, err)
  }
}

export async function health (target: Target, report: Report): Promise<void> {
  await probe(report, 'GET /health', `${target.apiUrl}/health`, (b) => b.status === 'ok' ? undefined : `status ${String(b.status)}`)
  await probe(report, 'GET /health/ready', `${target.apiUrl}/health/ready`, (b) => b.status === 'ready' ? undefined : `status ${String(b.status)}`)
  if (target.authUrl !== undefined) await probe(report, 'auth service GET /health', `${target.authUrl.replace(/\/$/, '')}/health`, () => undefined)
}
