// Child processes of the bench: spawn, track, read their CPU and RSS from /proc, and kill every one of them on any exit.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export interface Child { name: string, proc: ChildProcess, pid: number, exited: Promise<number | null> }

const children = new Set<Child>()
let pidFile: string | null = null

function recordPids (): void {
  if (pidFile === null) return
  writeFileSync(pidFile, [...children].map((c) => `${c.pid} ${c.name}`).join('\n') + '\n')
}

/**
 * Kills what a previous bench left behind if it was itself killed hard (SIGKILL skips our handlers).
 * Only pids listed in our own file whose command line is still one of ours: never anything by name.
 */
export function adoptPidFile (path: string): void {
  pidFile = path
  if (!existsSync(path)) return
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const pid = Number(line.split(' ')[0])
    if (!Number.isInteger(pid) || pid <= 1) continue
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (cmd.includes('dist-bench') || cmd.includes('dist/server.js') || cmd.includes('redis-server')) process.kill(pid, 'SIGKILL')
    } catch { /* gone already */ }
  }
  writeFileSync(path, '')
}

/** `ipc`: a Node child we talk to (and that exits when we are gone); logs always go to `logFile`. */
export function spawnChild (name: string, command: string, args: string[], opts: Omit<SpawnOptions, 'stdio'> & { logFile: string, ipc?: boolean }): Child {
  const { logFile, ipc, ...rest } = opts
  const proc = spawn(command, args, { ...rest, stdio: ['ignore', 'pipe', 'pipe', ...(ipc === true ? ['ipc' as const] : [])] })
  if (proc.pid === undefined) throw new Error(`cannot start ${name}`)
  // Logs go to a file so a crash can be read afterwards; a pipe nobody drains would stall the child.
  const log = createWriteStream(logFile, { flags: 'a' })
  proc.stdout?.pipe(log)
  proc.stderr?.pipe(log)
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  const child: Child = { name, proc, pid: proc.pid, exited }
  children.add(child)
  recordPids()
  exited.then(() => { children.delete(child); recordPids() }, () => undefined)
  return child
}

/** SIGTERM (graceful: the gateway writes its CPU profile then), SIGKILL after `graceMs`. Never throws. */
export async function stopChild (child: Child, graceMs = 5000): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return
  try { child.proc.kill('SIGTERM') } catch { /* already gone */ }
  const done = await Promise.race([child.exited.then(() => true), sleep(graceMs).then(() => false)])
  if (!done) {
    try { child.proc.kill('SIGKILL') } catch { /* already gone */ }
    await Promise.race([child.exited, sleep(1000)])
  }
}

export async function stopAll (graceMs = 3000): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, graceMs)))
}

/** Last resort on process exit: synchronous, so it runs even from 'exit'. */
function killAllNow (): void {
  for (const c of children) {
    try { c.proc.kill('SIGKILL') } catch { /* already gone */ }
  }
}

/** Ctrl-C, SIGTERM, an uncaught error: stop the children first, then exit. A second Ctrl-C kills at once. */
export function installCleanup (onSignal: () => Promise<void>): void {
  let stopping = false
  const handler = (signal: string): void => {
    if (stopping) { killAllNow(); process.exit(130) }
    stopping = true
    process.stderr.write(`\nbench: ${signal}, stopping every child process\n`)
    const hard = setTimeout(() => { killAllNow(); process.exit(130) }, 15000)
    hard.unref()
    onSignal().finally(() => stopAll().finally(() => process.exit(130)))
  }
  process.on('SIGINT', () => handler('SIGINT'))
  process.on('SIGTERM', () => handler('SIGTERM'))
  process.on('SIGHUP', () => handler('SIGHUP'))
  process.on('exit', killAllNow)
}

const CLK_TCK = ((): number => {
  try { return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100 } catch { return 100 }
})()

/** User + system CPU of every thread of a process so far, in microseconds (10 ms resolution at CLK_TCK 100). */
export function cpuUs (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may hold spaces and parentheses: count fields from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 1e6 / CLK_TCK
  } catch { return NaN }
}

/** CPU time the whole machine spent busy so far (all cores, all processes), in microseconds. */
export function machineBusyUs (): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    const busy = fields.slice(0, 8).reduce((a, b) => a + b, 0) - fields[3]! - fields[4]!
    return busy * 1e6 / CLK_TCK
  } catch { return NaN }
}

export function rssKb (pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : NaN
  } catch { return NaN }
}

export async function freePort (host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
  })
}

/** Polls `probe` every `everyMs` until it returns true; bounded by `timeoutMs`, and by the child dying first. */
export async function waitFor (what: string, probe: () => Promise<boolean>, timeoutMs: number, child?: Child, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child && (child.proc.exitCode !== null || child.proc.signalCode !== null)) throw new Error(`${child.name} exited while waiting for ${what}`)
    if (await probe().catch(() => false)) return
    await sleep(everyMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** Request/response over a child's IPC channel, bounded in time. */
export async function ask<T> (child: Child, message: unknown, accept: (m: unknown) => m is T, timeoutMs: number): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if (!accept(m)) return
      cleanup()
      resolve(m)
    }
    const onExit = (): void => { cleanup(); reject(new Error(`${child.name} exited`)) }
    const timer = setTimeout(() => { cleanup(); reject(new Error(`${child.name} did not answer within ${timeoutMs} ms`)) }, timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      child.proc.off('message', onMessage)
      child.proc.off('exit', onExit)
    }
    child.proc.on('message', onMessage)
    child.proc.once('exit', onExit)
    child.proc.send(message as object)
  })
}
