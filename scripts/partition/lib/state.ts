// The run folder: everything a run creates is written to state.json BEFORE it is created, so `down`
// (or the next harness start) can remove it even after the harness crashed or was SIGKILLed.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
// Our own subfolder: other tools keep things in .runs too, and only our state files may drive a cleanup.
export const RUNS_DIR = process.env.PARTITION_RUNS_DIR ?? join(REPO, '.runs', 'partition')
export const PARTITION_DIR = resolve(REPO, 'scripts/partition')

export type NodeProc = 'running' | 'paused' | 'stopped' | 'killed' | 'left'

export interface NodeState {
  id: string
  index: number
  ns: string
  veth: string // inside the namespace
  vethBr: string // bridge side, in the root namespace (no address)
  ip: string
  listenPort: number
  apiPort: number
  dataDir: string
  logFile: string
  sock: string // unix socket of the API proxy: reachable from the root namespace without any IP address
  pid: number | null
  pidStart: string | null
  proxyPid: number | null
  proxyStart: string | null
  proc: NodeProc
  starts: number
}

export interface FaultState {
  blocked: Array<[string, string]> // directed: packets from [0] never reach [1] (dropped on [0]'s output and [1]'s input)
  /** Directed like `blocked`, dropped only on [1]'s input: the sender's sendto succeeds and nothing tells it the
   *  packet is lost, as on a real network. (An output drop fails sendto with EPERM, which memberlist/Serf takes
   *  as "could not send", not as a failed probe, so it never suspects the peer.) */
  silent?: Array<[string, string]>
  loss: { percent: number; nodes: string[] | null } | null
  /** Ingress faults of single nodes: p% of every packet arriving on the node's veth is dropped (100: nothing arrives). */
  ingress?: Array<{ node: string; percent: number }>
  describe: string[]
}

export interface RunState {
  kind: typeof RUN_KIND
  runId: string
  prefix: string
  dir: string
  mode: 'cli' | 'harness'
  ownerPid: number
  ownerStart: string | null
  createdAt: string
  bridge: string
  bridgeCreated: boolean
  subnet: string // first three octets, e.g. "10.77.0"
  quorum: 'majority' | 'none'
  expect: number | null
  logLevel: string
  userConfig: string | null
  agentConfig: string
  recordFile: string
  extraArgs: string[]
  namespaces: string[] // every namespace this run created (or was about to create)
  links: string[] // root-namespace links this run created
  nodes: NodeState[]
  faults: FaultState
  down: boolean
}

/** A short per-run prefix: interface names must fit in 15 bytes, e.g. "cvk3f9b12". */
export function newPrefix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  const b = randomBytes(4)
  return 'cv' + [...b].map((x) => alphabet[x % alphabet.length]).join('')
}

export const RUN_KIND = 'conclave-partition-run'

export function stateFile(dir: string) { return join(dir, 'state.json') }

export function saveState(s: RunState): void {
  mkdirSync(s.dir, { recursive: true })
  const tmp = stateFile(s.dir) + '.tmp'
  writeFileSync(tmp, JSON.stringify(s, null, 2))
  renameSync(tmp, stateFile(s.dir))
}

export function loadState(dir: string): RunState {
  const f = stateFile(dir)
  if (!existsSync(f)) throw new Error(`no run state in ${dir}`)
  const s = JSON.parse(readFileSync(f, 'utf8')) as RunState
  if (s?.kind !== RUN_KIND || !Array.isArray(s.nodes) || !Array.isArray(s.namespaces) || !Array.isArray(s.links)) throw new Error(`${f} is not a partition-harness run state`)
  return s
}

export function listRuns(): RunState[] {
  if (!existsSync(RUNS_DIR)) return []
  const out: RunState[] = []
  for (const name of readdirSync(RUNS_DIR).sort()) {
    const dir = join(RUNS_DIR, name)
    if (existsSync(stateFile(dir))) {
      try { out.push(loadState(dir)) } catch { /* half-written: ignore */ }
    }
  }
  return out
}

export function runDirFor(prefix: string, label: string): string {
  const ts = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-')
  return join(RUNS_DIR, `${ts}-${label}-${prefix}`)
}
