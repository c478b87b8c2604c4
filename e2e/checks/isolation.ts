// Three users at once, each running the golden path: no frame of one reaches another, by field and by the platform's string check.
import { fmtMs, SLA, type Report } from '../report.js'
import { connect, goldenOrderProblem, sendMessage, untilRunEnds, type Connected } from '../session.js'
import type { Received } from '../socket.js'
import type { Target } from '../target.js'

const USERS = 3
const CHECK = `${USERS} users at once: zero frames cross users`

export async function isolation (target: Target, report: Report): Promise<void> {
  const tokens = await target.tokens(USERS)
  const started = performance.now()
  const conns: Connected[] = []
  try {
    for (const conn of await Promise.all(tokens.map(async (token) => await connect(target, token)))) conns.push(conn)
    const ids = conns.map((c) => c.userId)
    if (new Set(ids).size !== USERS) throw new Error(`the tokens are not of ${USERS} distinct users: ${ids.join(', ')}`)

    const runs = await Promise.all(conns.map(async (c, i) => {
      const sent = await sendMessage(c.socket, `User ${i + 1}: which of our services grew fastest last month?`)
      return await untilRunEnds(c.socket, sent.runId, SLA.concurrentMs)
    }))
    const elapsed = performance.now() - started

    const problems: string[] = []
    let frames = 0
    conns.forEach((c, i) => {
      frames += c.socket.frames.length
      const order = goldenOrderProblem(runs[i]!)
      if (order !== undefined) problems.push(`${c.userId}: ${order}`)
      for (const r of c.socket.frames) {
        const foreign = foreignUser(r, c.userId, ids)
        if (foreign !== undefined) problems.push(`${c.userId} got a ${String(r.frame.type)} frame of ${foreign}`)
      }
    })
    report.timed(CHECK, elapsed, SLA.concurrentMs, problems.length === 0,
      problems.length === 0 ? `${frames} frames, 0 foreign; users ${ids.join(', ')}` : problems.slice(0, 3).join('; '))
  } catch (err) {
    report.fail(CHECK, `0 foreign, ≤ ${fmtMs(SLA.concurrentMs)}`, err)
  } finally {
    await Promise.all(conns.map(async (c) => await c.socket.close()))
  }
}

/** Another user's id in a routing field, or anywhere in the raw frame (the platform's check); undefined if clean. */
function foreignUser (r: Received, own: string, all: string[]): string | undefined {
  for (const field of [r.frame.user_id, r.frame.data?.user_id]) {
    if (typeof field === 'string' && field !== own) return field
  }
  return all.find((id) => id !== own && !own.includes(id) && r.raw.includes(id))
}
