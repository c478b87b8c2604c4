// A socket dropped mid-run reconnects with ?since=&epoch= and gets exactly what it missed: no gap, no duplicate.
import { fmtMs, SLA, type Report } from '../report.js'
import { connect, goldenOrderProblem, runEvents, sendMessage, untilRunEnds } from '../session.js'
import type { Target } from '../target.js'

const CHECK = 'dropped socket: reconnect with since/epoch and replay, nothing lost'

export async function resume (target: Target, report: Report): Promise<void> {
  const [token] = await target.tokens(1)
  const first = await connect(target, token!)
  // A second socket of the same user stays up: it tells us when the run moved on while the first was away.
  const observer = await connect(target, token!)
  let again: Awaited<ReturnType<typeof connect>> | undefined
  try {
    const sent = await sendMessage(first.socket, 'Summarise last week\'s incidents.')
    const started = await first.socket.next((r) => r.frame.run_id === sent.runId && typeof r.frame.seq === 'number', SLA.firstEventMs, 'first event of the run')
    const before = runEvents(first.socket, sent.runId)
    const since = Math.max(...first.socket.frames.map((r) => typeof r.frame.seq === 'number' ? r.frame.seq : 0))
    const epoch = String(started.frame.epoch)
    if (before.some((r) => r.frame.type === 'agent_completed' || r.frame.type === 'agent_error')) throw new Error('the run ended before the socket could be dropped: nothing left to miss')
    first.socket.drop()
    await first.socket.closed

    // Wait for the run to move on without us (awaited on the observer, not slept), so the resume has something to fill.
    const missed = await observer.socket.next((r) => r.frame.run_id === sent.runId && (r.frame.seq as number) > since, SLA.maxGapMs, 'an event while the socket was down')
    const reconnectStart = performance.now()
    again = await connect(target, token!, `?since=${since}&epoch=${encodeURIComponent(epoch)}`)
    const replayed = await again.socket.next((r) => r.frame.seq === missed.frame.seq, SLA.reconnectMs, `replay of seq ${String(missed.frame.seq)}`)
    const replayMs = replayed.at - reconnectStart

    const after = await untilRunEnds(again.socket, sent.runId, SLA.allEventsMs)
    const failed = again.socket.frames.find((r) => r.frame.type === 'resume_failed')
    const seqs = again.socket.frames.map((r) => r.frame.seq).filter((s): s is number => typeof s === 'number')
    const last = after[after.length - 1]!.frame.seq as number
    const expected = Array.from({ length: last - since }, (_, i) => since + 1 + i)
    const lostOrDup = JSON.stringify(seqs.slice(0, expected.length)) !== JSON.stringify(expected)
    const problem = failed !== undefined
      ? `resume_failed: ${failed.raw.slice(0, 160)}`
      : lostOrDup
        ? `after since=${since} got seq ${seqs.join(', ')}, expected ${expected.join(', ')}`
        : goldenOrderProblem([...before, ...after])
    const caughtUp = seqs.filter((s) => s <= (missed.frame.seq as number)).length
    report.timed(CHECK, replayMs, SLA.reconnectMs, problem === undefined,
      problem ?? `dropped after seq ${since}; ${caughtUp} missed event(s) replayed, then ${seqs.length - caughtUp} live; 0 lost, 0 duplicated`)
  } catch (err) {
    report.fail(CHECK, `0 lost, replay ≤ ${fmtMs(SLA.reconnectMs)}`, err)
  } finally {
    await Promise.all([first.socket.close(), observer.socket.close(), again?.socket.close()])
  }
}
