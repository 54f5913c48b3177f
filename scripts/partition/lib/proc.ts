// Starting and signalling the processes of a run. Every pid is recorded with its start time, and a
// signal is sent only to the exact process we started (same pid AND same start time).
import { spawn } from 'node:child_process'
import { mkdirSync, openSync, closeSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { procStartTime, sameProcess, signal, sleep } from './sys.ts'
import { PARTITION_DIR, REPO, saveState, type NodeState, type RunState } from './state.ts'
import { binLaunch } from '../../lib/bin-launch.ts'

export const AGENT_BIN = join(REPO, 'bin/conclave.js')
const LAUNCH = binLaunch(AGENT_BIN)

function spawnInNs(ns: string, args: string[], logFile: string): { pid: number; start: string | null } {
  const fd = openSync(logFile, 'a')
  try {
    // `ip netns exec` execs the command in place, so the pid we get is the node process itself. Node's flags and
    // environment as bin/conclave.js's shebang gives `npx conclave`.
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...LAUNCH.nodeArgs, ...args], {
      detached: true, // own process group: a Ctrl-C on the harness reaches the harness only, which cleans up
      stdio: ['ignore', fd, fd],
      env: { ...process.env, NODE_OPTIONS: '', ...LAUNCH.env },
    })
    child.unref()
    if (!child.pid) throw new Error(`could not spawn ${args[0]} in ${ns}`)
    return { pid: child.pid, start: procStartTime(child.pid) }
  } finally { closeSync(fd) }
}

/** Starts any command inside a node's namespace (the membership-faults bench runs Serf this way) and records it
 *  as the node's agent, so signals and teardown treat it like one. */
export function startCommand(s: RunState, n: NodeState, cmd: string, args: string[]): void {
  if (sameProcess(n.pid, n.pidStart)) throw new Error(`${n.id} is already running (pid ${n.pid})`)
  const fd = openSync(n.logFile, 'a')
  try {
    const child = spawn('ip', ['netns', 'exec', n.ns, cmd, ...args], { detached: true, stdio: ['ignore', fd, fd] })
    child.unref()
    if (!child.pid) throw new Error(`could not spawn ${cmd} in ${n.ns}`)
    n.pid = child.pid; n.pidStart = procStartTime(child.pid); n.proc = 'running'; n.starts++
    saveState(s)
  } finally { closeSync(fd) }
}

/**
 * Start Serf (Debian's `serf`) in node `n`'s namespace, as the benchmarks run it beside conclave: gossip on the
 * namespace's address, RPC on its loopback, joining `seed` (retried every second) unless it is the first.
 */
export function startSerf(s: RunState, n: NodeState, seed: NodeState | null, logLevel: 'info' | 'warn'): void {
  const argv = ['agent', '-node', n.id, '-bind', `${n.ip}:7946`, '-rpc-addr', '127.0.0.1:7373', '-log-level', logLevel]
  if (seed) argv.push('-retry-join', `${seed.ip}:7946`, '-retry-interval', '1s')
  startCommand(s, n, 'serf', argv)
}

export function agentArgs(s: RunState, n: NodeState, opts: { expect?: number | null } = {}): string[] {
  const args = [AGENT_BIN, 'agent',
    '--id', n.id,
    '--listen', `/ip4/${n.ip}/tcp/${n.listenPort}`,
    '--api', `127.0.0.1:${n.apiPort}`,
    '--data-dir', n.dataDir,
    '--quorum', s.quorum,
    '--log-level', s.logLevel,
  ]
  const expect = opts.expect === undefined ? s.expect : opts.expect
  if (expect) args.push('--expect', String(expect))
  if (s.agentConfig && existsSync(s.agentConfig)) args.push('--config', s.agentConfig)
  args.push(...s.extraArgs)
  return args
}

export function startAgent(s: RunState, n: NodeState, opts: { expect?: number | null } = {}): void {
  if (sameProcess(n.pid, n.pidStart)) throw new Error(`${n.id} is already running (pid ${n.pid})`)
  mkdirSync(n.dataDir, { recursive: true })
  const { pid, start } = spawnInNs(n.ns, agentArgs(s, n, opts), n.logFile)
  n.pid = pid; n.pidStart = start; n.proc = 'running'; n.starts++
  saveState(s)
}

export function startProxy(s: RunState, n: NodeState): void {
  if (sameProcess(n.proxyPid, n.proxyStart)) return
  const { pid, start } = spawnInNs(n.ns, [join(PARTITION_DIR, 'proxy.mjs'), n.sock, String(n.apiPort)], join(s.dir, 'logs', `proxy-${n.id}.log`))
  n.proxyPid = pid; n.proxyStart = start
  saveState(s)
}

export function agentAlive(n: NodeState): boolean { return sameProcess(n.pid, n.pidStart) }

export function signalAgent(n: NodeState, sig: NodeJS.Signals): boolean {
  if (!sameProcess(n.pid, n.pidStart)) return false
  return signal(n.pid!, sig)
}

/** Waits until the agent process has exited (or the bound passes); returns true if it is gone. */
export async function waitExit(n: NodeState, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (!sameProcess(n.pid, n.pidStart)) return true
    await sleep(50)
  }
  return !sameProcess(n.pid, n.pidStart)
}

export function ensureDirs(s: RunState): void {
  mkdirSync(join(s.dir, 'logs'), { recursive: true })
  mkdirSync(join(s.dir, 'data'), { recursive: true })
  mkdirSync(join(s.dir, 'sock'), { recursive: true })
}
