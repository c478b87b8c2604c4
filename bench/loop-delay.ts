// Preloaded (--import) into every server process: its event-loop delay, measured from inside, read by the bench over IPC.
// Nothing of the server's own code changes; the histogram costs one timer every 10 ms. GC pauses are noted beside it.
import { monitorEventLoopDelay, PerformanceObserver, constants } from 'node:perf_hooks'

/** Parent → server: `reset` starts a measured window, `read` ends it. */
export interface LoopDelayCommand { cmd: 'loop-delay', op: 'reset' | 'read' }
/** Server → parent: the delay beyond the probe's 10 ms period, in milliseconds, over the window since the last reset. */
export interface LoopDelayReply {
  kind: 'loop-delay',
  op: 'reset' | 'read',
  p50: number,
  p99: number,
  max: number,
  samples: number
  /** GC over the window: total pause (ms), longest pause (ms), major (mark-compact) collections. */
  gcMs: number,
  gcMaxMs: number,
  gcMajor: number
}

const RESOLUTION_MS = 10
const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
histogram.enable()

// A stall that the loop-delay probe sees may be the collector's: its pauses, summed and the longest, say which.
let gcMs = 0
let gcMaxMs = 0
let gcMajor = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMs += entry.duration
    gcMaxMs = Math.max(gcMaxMs, entry.duration)
    if (((entry as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcMajor++
  }
}).observe({ entryTypes: ['gc'] })

process.on('message', (m: Partial<LoopDelayCommand> | null) => {
  if (m?.cmd !== 'loop-delay') return
  // Each sample is the time between two ticks of the probe's timer: the delay is what exceeds its period.
  const ms = (ns: number): number => histogram.count === 0 ? NaN : Math.max(0, ns / 1e6 - RESOLUTION_MS)
  const reply: LoopDelayReply = { kind: 'loop-delay', op: m.op === 'reset' ? 'reset' : 'read', p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max), samples: histogram.count, gcMs, gcMaxMs, gcMajor }
  if (m.op === 'reset') {
    histogram.reset()
    gcMs = 0
    gcMaxMs = 0
    gcMajor = 0
  }
  process.send?.(reply)
})
// The listener must not keep a finished server alive: the channel stays unref'd, as the orphan guard left it.
process.channel?.unref()
