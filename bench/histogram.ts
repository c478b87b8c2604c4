// A fixed-bucket latency histogram: cheap to record into at 100k samples/s and to merge across processes by sum.

// Three linear ranges keep 1 % precision where it matters (under 10 ms) with a few thousand buckets in all.
const RANGES = [
  { upToUs: 10_000, stepUs: 10 },
  { upToUs: 100_000, stepUs: 100 },
  { upToUs: 10_000_000, stepUs: 10_000 }
] as const

function layout (): { starts: number[], firstIndex: number[], size: number } {
  const starts: number[] = []
  const firstIndex: number[] = []
  let from = 0
  let index = 0
  for (const r of RANGES) {
    starts.push(from)
    firstIndex.push(index)
    index += Math.ceil((r.upToUs - from) / r.stepUs)
    from = r.upToUs
  }
  return { starts, firstIndex, size: index + 1 }
}
const LAYOUT = layout()
export const HISTOGRAM_SIZE = LAYOUT.size

export function newHistogram (): Float64Array {
  return new Float64Array(HISTOGRAM_SIZE)
}

export function bucketOf (us: number): number {
  const v = us < 0 ? 0 : us
  for (let i = 0; i < RANGES.length; i++) {
    const r = RANGES[i]!
    if (v < r.upToUs) return LAYOUT.firstIndex[i]! + Math.floor((v - LAYOUT.starts[i]!) / r.stepUs)
  }
  return HISTOGRAM_SIZE - 1
}

/** The upper edge of a bucket: percentiles are quoted pessimistically, never below the true value. */
function upperEdgeUs (bucket: number): number {
  for (let i = RANGES.length - 1; i >= 0; i--) {
    if (bucket >= LAYOUT.firstIndex[i]!) return LAYOUT.starts[i]! + (bucket - LAYOUT.firstIndex[i]! + 1) * RANGES[i]!.stepUs
  }
  return 0
}

export function mergeInto (target: Float64Array, source: ArrayLike<number>): void {
  for (let i = 0; i < target.length; i++) target[i]! += source[i] ?? 0
}

export interface Percentiles { count: number, p50: number, p95: number, p99: number, max: number }

/** Percentiles in milliseconds; `maxUs` is exact (tracked beside the buckets). */
export function percentiles (h: ArrayLike<number>, maxUs: number): Percentiles {
  let count = 0
  for (let i = 0; i < h.length; i++) count += h[i]!
  const at = (q: number): number => {
    if (count === 0) return NaN
    const rank = Math.ceil(q * count)
    let seen = 0
    for (let i = 0; i < h.length; i++) {
      seen += h[i]!
      if (seen >= rank) return Math.min(upperEdgeUs(i), maxUs) / 1000
    }
    return maxUs / 1000
  }
  return { count, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: count === 0 ? NaN : maxUs / 1000 }
}
