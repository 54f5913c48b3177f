// Real agent processes on 127.0.0.1 for integration tests: spawn, poll the API, signal by pid, clean up.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { StatusView } from '../../src/agent/types.ts'
import { binLaunch } from '../../scripts/lib/bin-launch.ts'

export const ROOT = resolve(import.meta.dirname, '../..')
export const BIN = join(ROOT, 'bin/conclave.js')
const LAUNCH = binLaunch(BIN)

/**
 * Free ports on 127.0.0.1, picked below Linux's ephemeral range (32768-60999): a port the kernel hands out for
 * listen(0) can be taken again by one of the agents' own outgoing connections before the agent binds it.
 */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = []
  const taken = new Set<number>()
  for (let tries = 0; ports.length < n && tries < 1000; tries++) {
    const port = 20000 + Math.floor(Math.random() * 12000)
    if (taken.has(port)) continue
    taken.add(port)
    const ok = await new Promise<boolean>((res) => {
      const s = createServer()
      s.once('error', () => res(false))
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)))
    })
    if (ok) ports.push(port)
  }
  if (ports.length < n) throw new Error(`could not find ${n} free ports on 127.0.0.1`)
  return ports
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  at: number
}

export class Proc {
  stderr = ''
  stdout = ''
  readonly exited: Promise<Exit>
  exit: Exit | null = null

  constructor(readonly child: ChildProcess) {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d))
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d))
    this.exited = new Promise((res) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal, at: performance.now() }
        res(this.exit)
      })
    })
  }

  get pid(): number {
    return this.child.pid!
  }

  signal(sig: NodeJS.Signals): void {
    if (this.exit === null) process.kill(this.pid, sig)
  }

  /** Kill by pid (SIGCONT first, in case it is stopped) and wait for the exit. */
  async kill(): Promise<void> {
    if (this.exit !== null) return
    try {
      process.kill(this.pid, 'SIGKILL')
      process.kill(this.pid, 'SIGCONT')
    } catch {
      // already gone
    }
    await this.exited
  }
}

/** Run `conclave <args>` to completion (bounded). */
export async function runCli(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = new Proc(spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }))
  const timer = setTimeout(() => void p.kill(), timeoutMs)
  const exit = await p.exited
  clearTimeout(timer)
  return { code: exit.code, stdout: p.stdout, stderr: p.stderr }
}

export interface AgentSpec {
  id: string
  p2pPort: number
  apiPort: number
  dataDir: string
  bootstrap: string[]
  extra?: string[]
  /** Flags for node itself (before the script), e.g. --max-semi-space-size=1. */
  nodeArgs?: string[]
}

export class AgentProc extends Proc {
  constructor(readonly spec: AgentSpec) {
    const args = [
      // Node's flags as bin/conclave.js's shebang gives `npx conclave` (its environment: below).
      ...(spec.nodeArgs ?? LAUNCH.nodeArgs),
      BIN,
      'agent',
      '--id', spec.id,
      '--listen', `/ip4/127.0.0.1/tcp/${spec.p2pPort}`,
      '--api', `127.0.0.1:${spec.apiPort}`,
      '--no-mdns',
      '--data-dir', spec.dataDir,
      '--log-level', 'info',
      ...spec.bootstrap.flatMap((b) => ['--bootstrap', b]),
      ...(spec.extra ?? []),
    ]
    super(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...LAUNCH.env } }))
  }

  get id(): string {
    return this.spec.id
  }

  /** GET /v1/status, or null while the agent cannot answer (starting, stopped, gone). */
  async status(): Promise<StatusView | null> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.spec.apiPort}/v1/status`, { signal: AbortSignal.timeout(2_000) })
      return res.ok ? ((await res.json()) as StatusView) : null
    } catch {
      return null
    }
  }

  async metrics(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.spec.apiPort}/metrics`, { signal: AbortSignal.timeout(2_000) })
    return res.text()
  }
}

/** Poll `check` until it returns a truthy value; fail with `what` and the last value after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = performance.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v) return v
      last = v
    } catch (e) {
      last = e
    }
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${typeof last === 'string' ? last : JSON.stringify(last)}`)
    }
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export class Cluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'conclave-it-'))
  readonly agents: AgentProc[] = []

  constructor(readonly nodeArgs: string[] = LAUNCH.nodeArgs) {}

  async spawn(id: string, bootstrap: string[], extra: string[] = []): Promise<AgentProc> {
    const [p2pPort, apiPort] = await freePorts(2)
    const a = new AgentProc({ id, p2pPort, apiPort, dataDir: join(this.dir, `${id}-${p2pPort}`), bootstrap, extra, nodeArgs: this.nodeArgs })
    this.agents.push(a)
    return a
  }

  /** Start an agent again with exactly the same command (same ports, data dir and flags). */
  async respawn(old: AgentProc): Promise<AgentProc> {
    return this.start(old.spec)
  }

  /** Start an agent from a full spec (e.g. another agent's, with another data dir). */
  start(spec: AgentSpec): AgentProc {
    const a = new AgentProc(spec)
    this.agents.push(a)
    return a
  }

  /** Kill every process this cluster started, by pid, and remove the temp dir. */
  async destroy(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.kill()))
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** stderr of every agent, for failure diagnostics. */
  logs(): string {
    return this.agents.map((a) => `----- ${a.id} (pid ${a.pid}, exit ${JSON.stringify(a.exit)})\n${a.stderr.split('\n').slice(-40).join('\n')}`).join('\n')
  }
}

export const stateOf = (s: StatusView, id: string) => s.members.find((m) => m.id === id)
