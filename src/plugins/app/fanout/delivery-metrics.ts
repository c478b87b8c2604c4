// What the delivery path counts: frames out by type, sampled latency, resumes and closes; registered by the fanout plugin.
import type { CounterMetric, HistogramMetric, Metrics } from '../metrics.js'

/** What the delivery path reports; kept free of prom-client so the registry does not depend on it. */
export interface DeliveryObserver {
  /** One broker message written to `sockets` local sockets. */
  delivered: (message: Buffer, sockets: number) => void
  resumed: (outcome: string) => void
  closed: (reason: string) => void
}

const TYPE_AT = Buffer.from('"type":"')
const QUOTE = 0x22
/** The frame's type, read where the wire format puts it (after seq and epoch) without decoding the frame. */
function typeOf (message: Buffer): string {
  const at = message.indexOf(TYPE_AT)
  if (at < 0 || at > 120) return 'other'
  const end = message.indexOf(QUOTE, at + TYPE_AT.length)
  return end < 0 ? 'other' : message.toString('latin1', at + TYPE_AT.length, end)
}
const TIMESTAMP = /"timestamp":(\d+(?:\.\d+)?)/
/** Latency is sampled: a regex on every frame would cost more than the rest of delivery. */
const SAMPLE_EVERY = 16

export class DeliveryMetrics implements DeliveryObserver {
  private readonly latency: HistogramMetric
  private readonly resumes: CounterMetric
  private readonly closes: CounterMetric
  /**
   * Frames out by type, kept here and read at scrape time: a prom-client counter hashes its labels on every inc,
   * which at 10,000 messages a second was a visible share of the delivery path.
   */
  private readonly byType: Record<string, number> = Object.create(null) as Record<string, number>
  private n = 0

  constructor (metrics: Metrics) {
    metrics.countedBy('aeg_frames_delivered_total', 'Stream frames written to sockets, by type', 'type', () => this.byType)
    this.latency = metrics.histogram('aeg_delivery_latency_seconds',
      'From the event\'s timestamp (ingest time unless the producer set it) to its delivery on this instance; sampled 1 in 16',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5])
    this.resumes = metrics.counter('aeg_resumes_total', 'Resumes, by outcome (ok, or the resume_failed reason)', ['outcome'])
    this.closes = metrics.counter('aeg_socket_closes_total', 'Sockets closed by the gateway, by reason', ['reason'])
  }

  delivered (message: Buffer, count: number): void {
    if (count === 0) return
    const type = typeOf(message)
    this.byType[type] = (this.byType[type] ?? 0) + count
    if (++this.n % SAMPLE_EVERY !== 0) return
    const ts = TIMESTAMP.exec(message.toString('latin1', 0, 256))
    if (ts) this.latency.observe(Math.max(0, Date.now() / 1000 - Number(ts[1])))
  }

  resumed (outcome: string): void { this.resumes.inc({ outcome }) }

  closed (reason: string): void { this.closes.inc({ reason }) }
}
