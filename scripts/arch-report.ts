// `npm run arch:report`: per infrastructure library, how many of src/'s modules import it and which; then the rule check.
import { cruiseWithRules, describe, INFRA, infraUsage, registryFindings, serverFiles, SOCKET_WRITER, socketWrites, violations } from './architecture.js'

const result = await cruiseWithRules(['src'])
const usage = infraUsage(result)
const out: string[] = [`Infrastructure imports in src/ (${result.summary.totalCruised} modules cruised)`, '']
const width = Math.max(...INFRA.map((n) => n.length))
for (const name of INFRA) {
  const importers = usage.get(name) ?? []
  out.push(`${name.padEnd(width)}  ${String(importers.length).padStart(2)} module${importers.length === 1 ? ' ' : 's'}${importers.length > 0 ? `  ${importers[0]}` : ''}`)
  for (const more of importers.slice(1)) out.push(`${''.padEnd(width + 14)}${more}`)
}

const broken = violations(result)
const writes = socketWrites(serverFiles()).filter((w) => w.file !== SOCKET_WRITER)
const registries = registryFindings(serverFiles())
out.push('', `dependency rules: ${broken.length === 0 ? 'all pass' : `${broken.length} violation(s)`}`)
for (const v of broken) out.push(`  ${describe(v)}`)
out.push(`socket writes outside ${SOCKET_WRITER}: ${writes.length}`)
for (const w of writes) out.push(`  ${w.file}:${w.line}  ${w.text}`)
out.push(`second registries or socket-manager factories: ${registries.length}`)
for (const r of registries) out.push(`  ${r.file}:${r.line}  ${r.why}`)
process.stdout.write(`${out.join('\n')}\n`)
process.exitCode = broken.length + writes.length + registries.length > 0 ? 1 : 0
