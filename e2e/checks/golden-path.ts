// The platform's golden path for one user, each service level its own row: open, welcome, first event, gaps, all five.
import { fmtMs, GOLDEN_PATH, SLA, type Report } from '../report.js'
import { connect, goldenOrderProblem, maxGap, runEvents, sendMessage, untilRunEnds } from '../session.js'
import type { Target } from '../target.js'

export async function goldenPath (target: Target, report: Report): Promise<void> {
  const [token] = await target.tokens(1)
  let conn
  try {
    conn = await connect(target, token!)
  } catch (err) {
    report.fail('golden path: socket open', `≤ ${fmtMs(SLA.socketOpenMs)}`, err)
    return
  }
  const { socket } = conn
  try {
    report.timed('golden path: socket open', conn.openMs, SLA.socketOpenMs)
    report.timed('golden path: connection_established after open', conn.establishedMs, SLA.establishedMs, true, `user ${conn.userId}`)

    const sent = await sendMessage(socket, 'How can we cut our GPU spend this quarter?')
    let first
    try {
      first = await socket.next((r) => r.frame.run_id === sent.runId && typeof r.frame.seq === 'number', SLA.firstEventMs, `first event of ${sent.runId}`)
    } catch (err) {
      report.fail('golden path: first event after the message', `≤ ${fmtMs(SLA.firstEventMs)}`, err)
      return
    }
    report.timed('golden path: first event after the message', first.at - sent.sentAt, SLA.firstEventMs, true, String(first.frame.type))

    let events
    try {
      events = await untilRunEnds(socket, sent.runId, SLA.allEventsMs - (performance.now() - sent.sentAt))
    } catch (err) {
      events = runEvents(socket, sent.runId)
      report.add({ check: 'golden path: no gap ≥ 30 s between events', limit: `< ${fmtMs(SLA.maxGapMs)}`, measured: fmtMs(maxGap(events)), ok: false, detail: 'the run did not finish' })
      report.fail(`golden path: all ${GOLDEN_PATH.length} events in order`, `≤ ${fmtMs(SLA.allEventsMs)}`, err)
      return
    }
    const gap = maxGap(events)
    report.add({ check: 'golden path: no gap ≥ 30 s between events', limit: `< ${fmtMs(SLA.maxGapMs)}`, measured: fmtMs(gap), ok: gap < SLA.maxGapMs })
    const last = events[events.length - 1]!
    const problem = goldenOrderProblem(events) ?? foreignField(events, conn.userId, sent.threadId)
    report.timed(`golden path: all ${GOLDEN_PATH.length} events in order`, last.at - sent.sentAt, SLA.allEventsMs, problem === undefined,
      problem ?? `${events.length} events, seq ${String(events[0]!.frame.seq)}…${String(last.frame.seq)}`)
  } finally {
    await socket.close()
  }
}

/** Each event must carry the routing fields flat (the platform's validators) with this user's and this thread's ids. */
function foreignField (events: Array<{ frame: Record<string, unknown> }>, userId: string, threadId: string): string | undefined {
  for (const { frame } of events) {
    if (frame.user_id !== userId) return `${String(frame.type)} has user_id ${String(frame.user_id)}`
    if (frame.thread_id !== threadId) return `${String(frame.type)} has thread_id ${String(frame.thread_id)}, the ack said ${threadId}`
    if (typeof frame.epoch !== 'string' || typeof frame.timestamp !== 'number') return `${String(frame.type)} lacks epoch or timestamp`
  }
  return undefined
}
