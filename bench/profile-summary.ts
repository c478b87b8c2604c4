// Reads V8 .cpuprofile files (node --cpu-prof) and ranks functions and packages by self time.
// CLI: node dist-bench/bench/profile-summary.js <file.cpuprofile>... [--top N]
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { table } from './report.js'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface ProfileEntry { name: string, where: string, selfMs: number, share: number }
export interface ProfileSummary { busyMs: number, idleMs: number, functions: ProfileEntry[], packages: ProfileEntry[] }

/** Where a frame's code lives: our gateway, a dependency (by package), Node's own, or V8's pseudo-frames. */
function packageOf (url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)'
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  if (url.startsWith('node:')) return 'node (core)'
  const dist = url.indexOf('/dist/')
  return dist >= 0 ? 'gateway (dist/)' : url
}

function shortUrl (url: string): string {
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length)
  const dist = url.indexOf('/dist/')
  return dist >= 0 ? url.slice(dist + 1) : url
}

/** Self time per sample comes from timeDeltas (the gap to the next sample), not a fixed interval. */
export function summarizeProfiles (files: string[], top = 25, window?: { startUs: number, endUs: number }): ProfileSummary {
  const byFunction = new Map<string, { name: string, where: string, us: number }>()
  const byPackage = new Map<string, number>()
  let idleUs = 0
  let busyUs = 0
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
    // Sample times are on CLOCK_MONOTONIC, as the bench's window: boot and connects can be left out.
    let at = profile.startTime
    for (let i = 0; i < profile.samples.length; i++) {
      at += profile.timeDeltas[i] ?? 0
      if (window && (at < window.startUs || at >= window.endUs)) continue
      const node = nodes.get(profile.samples[i]!)
      // The delta before sample i+1 is the time spent in sample i.
      const us = profile.timeDeltas[i + 1] ?? 0
      if (node === undefined || us <= 0) continue
      const { functionName, url, lineNumber } = node.callFrame
      const name = functionName || '(anonymous)'
      if (name === '(idle)') { idleUs += us; continue }
      busyUs += us
      const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : ''
      const key = `${name}@${where}`
      const entry = byFunction.get(key) ?? { name, where, us: 0 }
      entry.us += us
      byFunction.set(key, entry)
      const pkg = packageOf(url, name)
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us)
    }
  }
  const share = (us: number): number => busyUs === 0 ? 0 : us / busyUs
  return {
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    functions: [...byFunction.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: share(e.us) })),
    packages: [...byPackage.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)
      .map(([name, us]) => ({ name, where: '', selfMs: us / 1000, share: share(us) }))
  }
}

export function formatProfile (s: ProfileSummary): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`
  return [
    `busy ${s.busyMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms (shares below are of busy time)`,
    '',
    table(['#', 'self ms', 'share', 'function', 'where'], s.functions.map((e, i) => [String(i + 1), e.selfMs.toFixed(1), pct(e.share), e.name, e.where])),
    '',
    table(['package', 'self ms', 'share'], s.packages.map((e) => [e.name, e.selfMs.toFixed(1), pct(e.share)]))
  ].join('\n')
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2)
  const t = args.indexOf('--top')
  const top = t >= 0 ? Number(args.splice(t, 2)[1]) : 25
  if (args.length === 0) {
    process.stderr.write('usage: node dist-bench/bench/profile-summary.js <file.cpuprofile>... [--top N]\n')
    process.exit(2)
  }
  process.stdout.write(`${formatProfile(summarizeProfiles(args, top))}\n`)
}
