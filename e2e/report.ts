// The e2e summary: one row per check with its limit and what was measured, printed as a table, plus the pass/fail line.

/** The platform's golden-path service levels (contract section 6), in milliseconds. */
export const SLA = {
  socketOpenMs: 12_000,
  establishedMs: 5_000,
  firstEventMs: 20_000,
  maxGapMs: 30_000,
  allEventsMs: 120_000,
  /** The concurrency test: three users, all done within 60 s. */
  concurrentMs: 60_000,
  /** The mission-critical suite's strict mode: a reconnection within 3 s. */
  reconnectMs: 3_000,
  /** How long a refused token may take to be closed; the platform's clients wait 5 s for a first frame. */
  refusedMs: 5_000,
  httpMs: 5_000
} as const

export const GOLDEN_PATH = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const

export interface Row {
  check: string
  limit: string
  measured: string
  ok: boolean
  /** Why it failed, or a note on what was measured. */
  detail?: string
}

export const fmtMs = (ms: number): string => ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`

export class Report {
  readonly rows: Row[] = []

  add (row: Row): void { this.rows.push(row) }

  /** A timed row: passes when `ok` and `ms` is within `limitMs`. */
  timed (check: string, ms: number, limitMs: number, ok = true, detail?: string): void {
    const within = ms <= limitMs
    this.add({ check, limit: `≤ ${fmtMs(limitMs)}`, measured: fmtMs(ms), ok: ok && within, detail: within ? detail : `over the limit${detail ? `; ${detail}` : ''}` })
  }

  fail (check: string, limit: string, err: unknown): void {
    // fetch() says only "fetch failed"; the reason (refused, DNS, TLS) is its cause.
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : ''
    this.add({ check, limit, measured: '—', ok: false, detail: err instanceof Error ? `${err.message}${cause}` : String(err) })
  }

  get passed (): number { return this.rows.filter((r) => r.ok).length }
  get failed (): number { return this.rows.length - this.passed }

  table (): string {
    const head: Row = { check: 'check', limit: 'limit', measured: 'measured', ok: true }
    const cells = (r: Row): string[] => [r.check, r.limit, r.measured, r === head ? 'result' : r.ok ? 'pass' : 'FAIL', r === head ? 'detail' : r.detail ?? '']
    const all = [head, ...this.rows].map(cells)
    const widths = all[0]!.map((_, i) => Math.max(...all.map((c) => c[i]!.length)))
    const line = (c: string[]): string => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`
    return [line(all[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...all.slice(1).map(line)].join('\n')
  }
}
