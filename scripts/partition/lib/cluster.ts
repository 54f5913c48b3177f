// A cluster of real agents, one per network namespace, on a private bridge. Used by the CLI and the scenarios.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createBridge, createNodeNet, destroyNet, applyFaults, emptyFaults, nsExists, nsPids } from './net.ts'
import { agentAlive, ensureDirs, signalAgent, startAgent, startProxy, waitExit } from './proc.ts'
import { getStatus, request, type Status } from './api.ts'
import { newKeyText } from '../../../src/net/cluster-key.ts'
import { PARTITION_DIR, RUN_KIND, listRuns, newPrefix, runDirFor, saveState, type NodeState, type RunState } from './state.ts'
import { lowestId, naturalCompare, procStartTime, sameProcess, signal, sleep, sh } from './sys.ts'

export const LISTEN_PORT = 7946
export const API_PORT = 7947
export const SUBNET = '10.77.0'

export interface UpOptions {
  nodes?: number
  ids?: string[]
  quorum?: 'majority' | 'none'
  expect?: number | null // default: none, as README tells a user to start agents (the discovery window agrees on one cluster)
  config?: string | null // user config file: its tasks are merged with the probe task
  logLevel?: string
  mode?: 'cli' | 'harness'
  label?: string
  extraArgs?: string[]
  waitMs?: number // how long `up` waits for every agent to see every member alive
  /** Only the network (namespaces, bridge, empty fault tables): no agents, no proxies, no waiting. */
  netOnly?: boolean
  log?: (msg: string) => void
}

export class Cluster {
  private constructor(public s: RunState) {}

  static load(dirOrPrefix?: string): Cluster {
    const runs = listRuns().filter((r) => !r.down)
    if (!dirOrPrefix) {
      const cli = runs.filter((r) => r.mode === 'cli')
      if (!cli.length) throw new Error('no cluster is up (start one with: npm run cluster -- up --nodes 5)')
      return new Cluster(cli[cli.length - 1])
    }
    const r = runs.find((x) => x.prefix === dirOrPrefix || x.dir === dirOrPrefix || x.dir.endsWith('/' + dirOrPrefix))
    if (!r) throw new Error(`no live run matches ${dirOrPrefix}`)
    return new Cluster(r)
  }

  /** Creates the namespaces and bridge, starts every agent and waits until all see all alive. */
  static async up(o: UpOptions): Promise<Cluster> {
    const ids = o.ids?.length ? o.ids : Array.from({ length: o.nodes ?? 5 }, (_, i) => `node-${i + 1}`)
    if (new Set(ids).size !== ids.length) throw new Error(`duplicate node ids: ${ids.join(',')}`)
    for (const id of ids) if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new Error(`bad node id "${id}": use letters, digits, . _ -`)
    if (ids.length < 1 || ids.length > 60) throw new Error(`--nodes must be between 1 and 60 (got ${ids.length})`)
    const prefix = uniquePrefix()
    const dir = runDirFor(prefix, o.label ?? 'cluster')
    const s: RunState = {
      kind: RUN_KIND, runId: dir.split('/').pop()!, prefix, dir,
      mode: o.mode ?? 'cli', ownerPid: process.pid, ownerStart: procStartTime(process.pid),
      createdAt: new Date().toISOString(), bridge: `${prefix}br`, bridgeCreated: false, subnet: SUBNET,
      quorum: o.quorum ?? 'majority', expect: o.expect ?? null,
      logLevel: o.logLevel ?? process.env.PARTITION_LOG_LEVEL ?? 'info', userConfig: o.config ?? null,
      agentConfig: join(dir, 'agent-config.json'), recordFile: join(dir, 'probe-record.jsonl'),
      extraArgs: o.extraArgs ?? [], namespaces: [], links: [], nodes: [], faults: emptyFaults(), down: false,
    }
    saveState(s)
    ensureDirs(s)
    const c = new Cluster(s)
    if (o.netOnly) {
      // The namespaces, bridge and fault tables only: the caller starts its own processes (e.g. Serf) and records them.
      createBridge(s)
      for (const id of ids) c.addNodeState(id)
      for (const n of s.nodes) createNodeNet(s, n)
      applyFaults(s)
      return c
    }
    writeAgentConfig(s)
    createBridge(s)
    for (const id of ids) c.addNodeState(id)
    for (const n of s.nodes) { createNodeNet(s, n); startProxy(s, n) }
    applyFaults(s) // an empty table in every namespace, so `nft list` shows where faults go
    for (const n of s.nodes) startAgent(s, n)
    o.log?.(`run ${s.runId}: ${ids.length} agents starting in namespaces ${s.nodes.map((n) => n.ns).join(', ')}`)
    await c.waitConverged({ timeoutMs: o.waitMs ?? 90_000, what: 'initial membership' })
    return c
  }

  private addNodeState(id: string): NodeState {
    const index = this.s.nodes.reduce((m, n) => Math.max(m, n.index), 0) + 1
    const p = this.s.prefix
    const n: NodeState = {
      id, index, ns: `${p}n${index}`, veth: `${p}v${index}`, vethBr: `${p}b${index}`, ip: `${this.s.subnet}.${10 + index}`,
      listenPort: LISTEN_PORT, apiPort: API_PORT, dataDir: join(this.s.dir, 'data', id), logFile: join(this.s.dir, 'logs', `${id}.log`),
      sock: join(this.s.dir, 'sock', `${index}.sock`), pid: null, pidStart: null, proxyPid: null, proxyStart: null, proc: 'stopped', starts: 0,
    }
    this.s.nodes.push(n)
    saveState(this.s)
    return n
  }

  get dir() { return this.s.dir }
  get quorum() { return this.s.quorum }
  ids(): string[] { return this.s.nodes.map((n) => n.id) }
  node(id: string): NodeState {
    const n = this.s.nodes.find((x) => x.id === id)
    if (!n) throw new Error(`unknown node "${id}" (nodes: ${this.ids().join(', ')})`)
    return n
  }
  /** Nodes whose process runs and is not paused. */
  liveIds(): string[] { return this.s.nodes.filter((n) => n.proc === 'running' && agentAlive(n)).map((n) => n.id) }
  runningIds(): string[] { return this.s.nodes.filter((n) => (n.proc === 'running' || n.proc === 'paused') && agentAlive(n)).map((n) => n.id) }
  lowestLive(ids = this.liveIds()): string | null { return lowestId(ids) }

  status(id: string, timeoutMs = 1500): Promise<Status | null> { return getStatus(this.node(id).sock, timeoutMs) }
  async statuses(ids = this.ids()): Promise<Map<string, Status | null>> {
    const r = await Promise.all(ids.map(async (id) => [id, await this.status(id)] as const))
    return new Map(r)
  }
  api(id: string, method: string, path: string, body?: unknown, timeoutMs?: number) { return request(this.node(id).sock, method, path, body, timeoutMs) }

  /**
   * Waits until every live agent reports the same master (the lowest live id) and the same member states,
   * with every live node alive. Returns the time it took, or throws with each agent's view.
   */
  async waitConverged(o: { timeoutMs: number; what?: string; ids?: string[] }): Promise<number> {
    const t0 = Date.now()
    let last = ''
    while (Date.now() - t0 < o.timeoutMs) {
      const ids = o.ids ?? this.liveIds()
      const st = await this.statuses(ids)
      const v = convergence(st, ids, this.lowestLive(ids))
      if (v.ok) return Date.now() - t0
      last = v.why
      for (const n of this.s.nodes) {
        if (n.proc === 'running' && !agentAlive(n)) throw new Error(`agent ${n.id} exited unexpectedly; see ${n.logFile}:\n${tail(n.logFile)}`)
      }
      await sleep(300)
    }
    throw new Error(`${o.what ?? 'convergence'} not reached within ${o.timeoutMs} ms: ${last}`)
  }

  // ---- process faults ----

  kill(id: string): void { this.sig(id, 'SIGKILL', 'killed') }
  pause(id: string): void { this.sig(id, 'SIGSTOP', 'paused') }
  resume(id: string): void {
    const n = this.node(id)
    if (n.proc !== 'paused') throw new Error(`${id} is not paused (${n.proc})`)
    this.sig(id, 'SIGCONT', 'running')
  }
  private sig(id: string, sig: NodeJS.Signals, next: NodeState['proc']): void {
    const n = this.node(id)
    if (!signalAgent(n, sig)) throw new Error(`${id} is not running (${n.proc}); cannot send ${sig}`)
    n.proc = next
    saveState(this.s)
  }
  /** Forget a stopped agent's data dir (identity, state, journal): its next start is a new node. */
  wipe(id: string): void {
    const n = this.node(id)
    if (agentAlive(n)) throw new Error(`${id} is running; stop it before wiping its data dir`)
    rmSync(n.dataDir, { recursive: true, force: true })
  }
  /** SIGTERM: the agent leaves gracefully and exits. */
  async leave(id: string, timeoutMs = 10_000): Promise<void> {
    const n = this.node(id)
    if (n.proc === 'paused') signalAgent(n, 'SIGCONT')
    if (!signalAgent(n, 'SIGTERM')) throw new Error(`${id} is not running (${n.proc})`)
    n.proc = 'left'
    saveState(this.s)
    if (!(await waitExit(n, timeoutMs))) throw new Error(`${id} did not exit within ${timeoutMs} ms of SIGTERM`)
  }
  /** Starts the agent again with the same data dir (identity and journal kept). Graceful stop first if it runs. */
  async restart(id: string, o: { hard?: boolean; expect?: number | null } = {}): Promise<void> {
    const n = this.node(id)
    if (agentAlive(n)) {
      if (n.proc === 'paused') signalAgent(n, 'SIGCONT')
      signalAgent(n, o.hard ? 'SIGKILL' : 'SIGTERM')
      if (!(await waitExit(n, 10_000))) { signalAgent(n, 'SIGKILL'); await waitExit(n, 5000) }
    }
    startAgent(this.s, n, { expect: o.expect })
  }
  /** Adds a new namespace and agent to the running cluster, cut off like `group` if a partition is in force. */
  async add(id: string, o: { sameSideAs?: string; expect?: number | null } = {}): Promise<NodeState> {
    if (this.s.nodes.some((n) => n.id === id)) throw new Error(`node ${id} already exists`)
    const n = this.addNodeState(id)
    createNodeNet(this.s, n)
    startProxy(this.s, n)
    if (o.sameSideAs) {
      // inherit the reachability of an existing node: blocked with the same peers, in both directions
      const ref = o.sameSideAs
      this.node(ref)
      const add: Array<[string, string]> = []
      for (const [a, b] of this.s.faults.blocked) {
        if (a === ref) add.push([id, b])
        if (b === ref) add.push([a, id])
      }
      this.s.faults.blocked.push(...add)
      const addSilent: Array<[string, string]> = []
      for (const [a, b] of this.s.faults.silent ?? []) {
        if (a === ref) addSilent.push([id, b])
        if (b === ref) addSilent.push([a, id])
      }
      ;(this.s.faults.silent ??= []).push(...addSilent)
      this.s.faults.describe.push(`${id} joins on the side of ${ref}`)
    }
    applyFaults(this.s)
    startAgent(this.s, n, { expect: o.expect ?? null })
    return n
  }

  // ---- network faults (replace the current partition; loss is kept until heal) ----

  /** `silent`: drop only on the receivers' input (see FaultState.silent), so no sender gets a send error. */
  partition(groups: string[][], o: { silent?: boolean } = {}): void {
    const all = this.ids()
    const listed = new Set(groups.flat())
    for (const id of listed) this.node(id)
    const rest = all.filter((id) => !listed.has(id))
    const gs = rest.length ? [...groups, rest] : groups
    const group = new Map<string, number>()
    gs.forEach((g, i) => g.forEach((id) => { if (group.has(id)) throw new Error(`${id} is in two groups`); group.set(id, i) }))
    const blocked: Array<[string, string]> = []
    for (const a of all) for (const b of all) if (a !== b && group.get(a) !== group.get(b)) blocked.push([a, b])
    this.setBlocked(blocked, `partition ${gs.map((g) => g.join(',')).join(' / ')}${o.silent ? ' (silent drops)' : ''}`, o.silent)
  }
  isolate(id: string, o: { silent?: boolean } = {}): void { this.node(id); this.partition([[id]], o) }
  /** left and right cannot reach each other; middle reaches both (a non-transitive partition). */
  bridge(left: string[], middle: string[], right: string[]): void {
    for (const id of [...left, ...middle, ...right]) this.node(id)
    const blocked: Array<[string, string]> = []
    for (const a of left) for (const b of right) blocked.push([a, b], [b, a])
    this.setBlocked(blocked, `bridge ${left.join(',')} <-> ${middle.join(',')} <-> ${right.join(',')}`)
  }
  /** Packets from `from` never reach `to`; the other direction works. Added to what is already blocked. */
  oneway(from: string, to: string): void {
    this.node(from); this.node(to)
    this.s.faults.blocked.push([from, to])
    this.s.faults.describe.push(`oneway ${from}->${to}`)
    applyFaults(this.s)
  }
  /** `id` cannot receive from `peers` (default: everyone else); it still sends. Dropped at `id`'s input only (silent:
   *  no peer gets a send error). Added to what is already blocked. */
  onewayIn(id: string, peers = this.ids().filter((x) => x !== id)): void {
    this.node(id)
    for (const p of peers) { this.node(p); (this.s.faults.silent ??= []).push([p, id]) }
    this.s.faults.describe.push(`oneway ${peers.join(',')}->${id} blocked (${id} hears nobody)`)
    applyFaults(this.s)
  }
  /** Packets from `id` never reach `peers` (default: everyone else); it still receives. Dropped at the peers' input
   *  only, so `id` sends without an error and never learns from its own kernel that nothing arrives. */
  onewayOut(id: string, peers = this.ids().filter((x) => x !== id)): void {
    this.node(id)
    for (const p of peers) { this.node(p); (this.s.faults.silent ??= []).push([id, p]) }
    this.s.faults.describe.push(`oneway ${id}->${peers.join(',')} blocked (nobody hears ${id})`)
    applyFaults(this.s)
  }
  /**
   * Ingress loss on one node: `percent`% of every packet arriving on its veth is dropped (100 blocks all of it;
   * 0 removes the fault). Only the input of that node, so each packet it sends still arrives.
   */
  ingress(id: string, percent: number): void {
    if (!(percent >= 0 && percent <= 100)) throw new Error(`ingress loss must be 0..100 (got ${percent})`)
    this.node(id)
    const rest = (this.s.faults.ingress ?? []).filter((g) => g.node !== id)
    this.s.faults.ingress = percent ? [...rest, { node: id, percent }] : rest
    this.s.faults.describe = this.s.faults.describe.filter((d) => !d.startsWith(`ingress ${id} `))
    if (percent) this.s.faults.describe.push(`ingress ${id} ${percent >= 100 ? 'blocked' : `${percent}% loss`}`)
    applyFaults(this.s)
  }
  loss(percent: number, nodes: string[] | null): void {
    if (!(percent >= 0 && percent <= 100)) throw new Error(`loss must be 0..100 (got ${percent})`)
    for (const id of nodes ?? []) this.node(id)
    this.s.faults.loss = percent ? { percent, nodes: nodes?.length ? nodes : null } : null
    this.s.faults.describe = this.s.faults.describe.filter((d) => !d.startsWith('loss'))
    if (percent) this.s.faults.describe.push(`loss ${percent}%${nodes?.length ? ' on ' + nodes.join(',') : ''}`)
    applyFaults(this.s)
  }
  /** `applied`: see applyFaults (the benchmarks time a heal from when the namespaces concerned had it). */
  heal(applied?: (id: string) => void): void {
    this.s.faults = emptyFaults()
    applyFaults(this.s, applied)
  }
  private setBlocked(blocked: Array<[string, string]>, what: string, silent = false): void {
    this.s.faults.blocked = silent ? [] : blocked
    this.s.faults.silent = silent ? blocked : []
    this.s.faults.describe = [...this.s.faults.describe.filter((d) => d.startsWith('loss') || d.startsWith('ingress')), what]
    applyFaults(this.s)
  }
  faultsText(): string { return this.s.faults.describe.length ? this.s.faults.describe.join('; ') : 'none' }

  /** Removes everything the run created. Idempotent; synchronous so it also works in an exit handler. */
  down(o: { purge?: boolean } = {}): string[] { return teardown(this.s, o) }
}

/** Agreement check used by waitConverged and by the scenarios. */
export function convergence(st: Map<string, Status | null>, ids: string[], expectMaster: string | null): { ok: boolean; why: string } {
  let ref: string | null = null
  for (const id of ids) {
    const s = st.get(id)
    if (!s) return { ok: false, why: `${id}: no answer from its API` }
    if (!s.master) return { ok: false, why: `${id}: no master (quorum ${s.quorum.visible}/${s.quorum.voting}, needs ${s.quorum.needed})` }
    if (s.master.id !== expectMaster) return { ok: false, why: `${id}: master ${s.master.id}, expected ${expectMaster}` }
    for (const other of ids) {
      const m = s.members.find((x) => x.id === other)
      if (!m || m.state !== 'alive') return { ok: false, why: `${id} sees ${other} as ${m?.state ?? 'unknown'}` }
    }
    const view = viewKey(s)
    if (ref === null) ref = view
    else if (view !== ref) return { ok: false, why: `views differ: ${ids[0]}: ${ref} vs ${id}: ${view}` }
  }
  const terms = new Set(ids.map((id) => st.get(id)!.master!.term))
  if (terms.size > 1) return { ok: false, why: `agents disagree on the term: ${[...terms].join(', ')}` }
  const clusters = new Set(ids.map((id) => st.get(id)!.clusterId ?? null))
  if (clusters.size > 1) return { ok: false, why: `agents are in different clusters: ${[...clusters].join(', ')}` }
  return { ok: true, why: '' }
}

/** One agent's membership as a comparable string. A member that left counts as absent: an agent that
 *  joined after the departure may never have heard of it, and that is no disagreement. */
export function viewKey(s: Status): string {
  return [...s.members].filter((m) => m.state !== 'left').sort((a, b) => naturalCompare(a.id, b.id)).map((m) => `${m.id}:${m.state}`).join(' ')
}

function writeAgentConfig(s: RunState): void {
  let user: any = {}
  if (s.userConfig) {
    if (!existsSync(s.userConfig)) throw new Error(`config file not found: ${s.userConfig}`)
    try { user = JSON.parse(readFileSync(s.userConfig, 'utf8')) } catch (e) { throw new Error(`config file ${s.userConfig} is not JSON: ${(e as Error).message}`) }
  }
  const probe = {
    masterOnly: true,
    command: [join(PARTITION_DIR, 'probe-task.sh'), s.recordFile, '0.1'],
    timeoutMs: 10_000,
  }
  // The agents run keyed, as a user should run them on a LAN with mDNS: one new cluster key per run (mode 0600).
  const keyFile = join(s.dir, 'cluster.key')
  if (!existsSync(keyFile)) writeFileSync(keyFile, newKeyText(), { mode: 0o600 })
  const config = { clusterKeyFile: keyFile, ...user, tasks: { ...(user.tasks ?? {}), probe } }
  writeFileSync(s.agentConfig, JSON.stringify(config, null, 2))
}

function uniquePrefix(): string {
  const taken = new Set(listRuns().map((r) => r.prefix))
  const ns = sh('ip', ['netns', 'list']).stdout
  const links = sh('ip', ['-o', 'link', 'show']).stdout
  for (let i = 0; i < 50; i++) {
    const p = newPrefix()
    if (!taken.has(p) && !ns.includes(p) && !links.includes(p)) return p
  }
  throw new Error('could not pick a free run prefix')
}

function tail(file: string, lines = 15): string {
  try { return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') } catch { return '(no log)' }
}

/** Kills the run's processes (verified by pid + start time, then anything left in its own namespaces), removes
 *  the namespaces, veths and bridge. Idempotent. */
export function teardown(s: RunState, o: { purge?: boolean } = {}): string[] {
  const errors: string[] = []
  for (const n of s.nodes) {
    if (sameProcess(n.pid, n.pidStart)) { signal(n.pid!, 'SIGCONT'); signal(n.pid!, 'SIGKILL') }
    if (sameProcess(n.proxyPid, n.proxyStart)) signal(n.proxyPid!, 'SIGKILL')
  }
  // Anything still inside our namespaces (task commands the agents started) is ours too.
  for (const ns of s.namespaces) if (nsExists(ns)) for (const pid of nsPids(ns)) signal(pid, 'SIGKILL')
  errors.push(...destroyNet(s))
  for (const n of s.nodes) rmSync(n.sock, { force: true })
  s.down = true
  if (o.purge) rmSync(s.dir, { recursive: true, force: true })
  else { rmSync(join(s.dir, 'data'), { recursive: true, force: true }); saveState(s) }
  return errors
}

/** Runs whose harness died without cleaning up (cli runs are left alone: they outlive `up` on purpose). */
export function staleRuns(): RunState[] {
  return listRuns().filter((r) => !r.down && r.mode === 'harness' && !sameProcess(r.ownerPid, r.ownerStart))
}

/** Deletes the folders of finished harness runs beyond the newest `keep` (their namespaces are long gone). */
export function pruneRuns(keep: number): void {
  const done = listRuns().filter((r) => r.down && r.mode === 'harness')
  for (const r of done.slice(0, Math.max(0, done.length - keep))) rmSync(r.dir, { recursive: true, force: true })
}
