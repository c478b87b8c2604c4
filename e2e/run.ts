// `npm run test:e2e`: the black-box suite. Runs every check against the target, prints the table, exits 1 on any failure.
import { badToken } from './checks/bad-token.js'
import { goldenPath } from './checks/golden-path.js'
import { health } from './checks/health.js'
import { isolation } from './checks/isolation.js'
import { resume } from './checks/resume.js'
import { sdk } from './checks/sdk.js'
import { Report } from './report.js'
import { startLocalStack } from './local-stack.js'
import { remoteTarget, type Target } from './target.js'

const log = (line: string): void => { process.stderr.write(`e2e: ${line}\n`) }

/** Whole-run bound: the slowest check's service level (120 s) and then some, so a hung target cannot hold CI. */
const RUN_LIMIT_MS = Number(process.env.E2E_TIMEOUT_S ?? 300) * 1000

const CHECKS: Array<[string, (target: Target, report: Report) => Promise<void>]> = [
  ['health', health],
  ['golden path', goldenPath],
  ['isolation', isolation],
  ['resume', resume],
  ['bad token', badToken],
  ['client SDK', sdk]
]

const report = new Report()
let target: Target | undefined

function finish (): void {
  process.stdout.write(`\n${report.table()}\n\ne2e: ${report.passed} passed, ${report.failed} failed\n`)
}

const overall = setTimeout(() => {
  report.fail('whole run', `≤ ${RUN_LIMIT_MS / 1000} s`, new Error('the suite did not finish in time'))
  finish()
  const stopping = target?.stop({ keepLogs: true }) ?? Promise.resolve()
  stopping.finally(() => process.exit(1)).catch(() => undefined)
}, RUN_LIMIT_MS)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { log(`${signal}: stopping`); (target?.stop({ keepLogs: true }) ?? Promise.resolve()).finally(() => process.exit(130)).catch(() => undefined) })
}

const started = performance.now()
try {
  // A deployment named by E2E_WS_URL / E2E_API_URL, else a local stack started (and stopped) here.
  target = remoteTarget() ?? await startLocalStack(log)
  log(`target: ${target.label}`)
  for (const [name, check] of CHECKS) {
    const t0 = performance.now()
    try {
      await check(target, report)
    } catch (err) {
      report.fail(`${name}: could not run`, '—', err)
    }
    log(`${name} done in ${Math.round(performance.now() - t0)} ms`)
  }
} catch (err) {
  report.fail('target: start or reach', '—', err)
} finally {
  await target?.stop({ keepLogs: report.failed > 0 }).catch((err: Error) => log(`stopping the target failed: ${err.message}`))
  clearTimeout(overall)
}
log(`finished in ${((performance.now() - started) / 1000).toFixed(1)} s`)
finish()
process.exitCode = report.failed > 0 || report.rows.length === 0 ? 1 : 0
