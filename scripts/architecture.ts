// Architecture checks shared by test/architecture.test.ts and `npm run arch:report`: dependency rules, socket writers, one registry.
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cruise, type ICruiseResult } from 'dependency-cruiser'
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))

/** The infrastructure libraries `arch:report` counts importers of. */
export const INFRA = ['ioredis', 'pg', 'ws', '@fastify/websocket', 'prom-client', 'jose', 'undici'] as const

/** The one module allowed to write to a server-side socket (send, close, terminate, ping, pong). */
export const SOCKET_WRITER = 'src/plugins/app/fanout/registry.ts'
/** Where the one registry is created. */
export const REGISTRY_HOME = 'src/plugins/app/fanout/index.ts'

export interface Violation { rule: string, from: string, to: string, comment?: string }

/**
 * Cruises `paths` (relative to `baseDir`) with the repository's rules. `baseDir` other than the repository is for
 * the test that proves the rules fire (a fixture tree with the same layout).
 */
export async function cruiseWithRules (paths: string[], baseDir = ROOT): Promise<ICruiseResult> {
  const options = await extractDepcruiseOptions(join(ROOT, '.dependency-cruiser.cjs'))
  const tsConfig = extractTSConfig(join(baseDir, 'tsconfig.json'))
  // A fixture tree reaches node_modules through a symlink: keep its paths as seen from the tree, like the repository's.
  const { output } = await cruise(paths, { ...options, baseDir, validate: true, preserveSymlinks: baseDir !== ROOT }, undefined, { tsConfig })
  if (typeof output === 'string') throw new Error('dependency-cruiser returned text, expected a result object')
  return output
}

export function violations (result: ICruiseResult): Violation[] {
  const rules = new Map((result.summary.ruleSetUsed?.forbidden ?? []).map((r) => [r.name, r.comment]))
  return result.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to, comment: rules.get(v.rule.name) }))
}

/** "<rule>: <file> → <dependency>", the form a failing check prints. */
export function describe (v: Violation): string {
  return `${v.rule}: ${v.from} → ${v.to}`
}

/** Per infrastructure library, the modules that import it (type-only imports marked). */
export function infraUsage (result: ICruiseResult): Map<string, string[]> {
  const usage = new Map<string, string[]>(INFRA.map((name) => [name, []]))
  for (const mod of result.modules) {
    for (const dep of mod.dependencies) {
      const list = usage.get(dep.module)
      if (list === undefined) continue
      const typeOnly = dep.dependencyTypes.includes('type-only')
      const entry = `${mod.source}${typeOnly ? ' (types only)' : ''}`
      // One line per module even if it imports and re-exports.
      if (!list.some((e) => e.startsWith(`${mod.source}`))) list.push(entry)
      else if (!typeOnly) list[list.findIndex((e) => e.startsWith(mod.source))] = mod.source
    }
  }
  return usage
}

export interface Finding { file: string, line: number, text: string }

/** TypeScript files under `dir`, relative to the repository root. */
export function sourceFiles (dir: string, root = ROOT): string[] {
  const out: string[] = []
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...sourceFiles(path, root))
    else if (entry.name.endsWith('.ts')) out.push(path)
  }
  return out
}

/** The server's code: src/ without the client SDK, whose own sockets are the browser's. */
export function serverFiles (root = ROOT): string[] {
  return sourceFiles('src', root).filter((f) => !f.startsWith(join('src', 'client')))
}

/** Lines of code with comments left out, so a comment that mentions `socket.close()` is not a finding. */
function codeLines (file: string, root: string): Array<[number, string]> {
  const lines = readFileSync(join(root, file), 'utf8').split('\n')
  const out: Array<[number, string]> = []
  let inBlock = false
  lines.forEach((raw, i) => {
    let line = raw
    if (inBlock) {
      const end = line.indexOf('*/')
      if (end === -1) return
      line = line.slice(end + 2)
      inBlock = false
    }
    line = line.replace(/\/\*.*?\*\//g, '')
    const start = line.indexOf('/*')
    if (start !== -1) { inBlock = true; line = line.slice(0, start) }
    line = line.replace(/(^|[^:'"`])\/\/.*$/, '$1')
    if (line.trim() !== '') out.push([i + 1, line])
  })
  return out
}

// A call of a writing method on something named like a socket: socket, ws, client(s), peer, conn.socket, this.socket.
const SOCKET_WRITE = /\b([A-Za-z_$][\w$]*)\s*\??\.\s*(send|close|terminate|ping|pong)\s*\(/g
const SOCKET_NAME = /socket|^ws$|^clients?$|^peer$/i

/** Every write to a socket in `files`; `SOCKET_WRITER` is the only file allowed to have any. */
export function socketWrites (files: string[], root = ROOT): Finding[] {
  const found: Finding[] = []
  for (const file of files) {
    for (const [line, text] of codeLines(file, root)) {
      for (const match of text.matchAll(SOCKET_WRITE)) {
        if (SOCKET_NAME.test(match[1]!)) found.push({ file, line, text: text.trim() })
      }
    }
  }
  return found
}

// Names of the legacy platform's managers and of their factories, whatever the casing.
const MANAGER_NAME = /(web)?socket\w*(manager|registry|hub|pool|factory)|connection\w*(manager|registry|hub|factory)|ws\w*(manager|factory)|manager\w*factory/i
const DECLARATION = /\b(?:class|function|interface|type|const|let|var)\s+([A-Za-z_$][\w$]*)/g
// A second place that keeps sockets: a strong collection of them (weak ones neither enumerate nor keep them alive).
const SOCKET_COLLECTION = /(?<!Weak)\b(Set|Map|Array)\s*<[^>]*\b(Connection|WebSocket|Socket)\b/
const WS_SERVER = /\bnew\s+(WebSocketServer|WebSocket\.Server)\b/
const NEW_REGISTRY = /\bnew\s+ConnectionRegistry\s*\(/

/** Anything that looks like a second registry or a WebSocket-manager factory, named by file and line. */
export function registryFindings (files: string[], root = ROOT): Array<Finding & { why: string }> {
  const found: Array<Finding & { why: string }> = []
  let created = 0
  for (const file of files) {
    const isRegistry = file === SOCKET_WRITER
    for (const [line, text] of codeLines(file, root)) {
      const at = { file, line, text: text.trim() }
      for (const match of text.matchAll(DECLARATION)) {
        const name = match[1]!
        if (MANAGER_NAME.test(name) && !(isRegistry && name === 'ConnectionRegistry')) found.push({ ...at, why: `declares ${name}: a second socket manager or a manager factory` })
      }
      if (!isRegistry && SOCKET_COLLECTION.test(text)) found.push({ ...at, why: 'keeps sockets in a collection of its own: only the registry holds them' })
      if (WS_SERVER.test(text)) found.push({ ...at, why: 'creates a WebSocket server: the only one is @fastify/websocket\'s (src/plugins/external/websocket.ts)' })
      if (NEW_REGISTRY.test(text)) {
        created++
        if (file !== REGISTRY_HOME) found.push({ ...at, why: `creates a ConnectionRegistry outside ${REGISTRY_HOME}` })
      }
    }
  }
  if (created === 0) found.push({ file: REGISTRY_HOME, line: 0, text: '', why: `no ConnectionRegistry is created in ${REGISTRY_HOME}` })
  if (created > 1) found.push({ file: REGISTRY_HOME, line: 0, text: '', why: `${created} ConnectionRegistry instances are created in src/; there must be one` })
  return found
}
