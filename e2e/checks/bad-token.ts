// Bad tokens are refused the platform's way: the upgrade completes, an error_message AUTH_FAILED comes, then close 1008.
import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { fmtMs, SLA, type Report } from '../report.js'
import { E2ESocket } from '../socket.js'
import type { Target } from '../target.js'

/** A token shaped exactly like the platform's, signed with a key nobody trusts: what a forger sends. */
function forgedToken (): string {
  const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({
    sub: 'e2e-forger', iat: now, exp: now + 600, jti: randomUUID(), iss: 'netra-auth-service', aud: 'netra-platform', token_type: 'access', type: 'access'
  })}`
  return `${body}.${createHmac('sha256', randomBytes(32)).update(body).digest('base64url')}`
}

async function refused (target: Target, report: Report, check: string, token: string): Promise<void> {
  const limit = `1008, ≤ ${fmtMs(SLA.refusedMs)}`
  let socket: E2ESocket | undefined
  try {
    const opened = await E2ESocket.open(target.wsUrl, { headers: { authorization: `Bearer ${token}` }, timeoutMs: SLA.socketOpenMs })
    socket = opened.socket
    const closed = await socket.closedWithin(SLA.refusedMs)
    const ms = closed.at - socket.openedAt
    const error = socket.frames.find((r) => r.frame.type === 'error_message')
    const leaked = socket.frames.filter((r) => r.frame.type !== 'error_message').map((r) => String(r.frame.type))
    const problem = closed.code !== 1008
      ? `closed with ${closed.code} ${closed.reason}`
      : leaked.length > 0
        ? `got ${leaked.join(', ')} before the close`
        : error === undefined ? 'no error_message before the close' : undefined
    report.add({ check, limit, measured: `${closed.code} in ${fmtMs(ms)}`, ok: problem === undefined && ms <= SLA.refusedMs, detail: problem ?? `${String(error?.frame.error_code)}: ${closed.reason}` })
  } catch (err) {
    report.fail(check, limit, err)
  } finally {
    await socket?.close()
  }
}

export async function badToken (target: Target, report: Report): Promise<void> {
  await refused(target, report, 'bad token refused: forged signature', forgedToken())
  // The literal the platform's staging golden path falls back to when its login fails.
  await refused(target, report, 'bad token refused: mock_jwt_token_for_staging_test', 'mock_jwt_token_for_staging_test')
}
