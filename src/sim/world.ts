// The simulated world: N real ClusterCores under one virtual clock, joined by the network model, with the
// fault actions (crash, pause, restart, join, leave, partitions) and the task allocator around them.
// Nothing of the protocol is reimplemented here: every decision comes from src/core.
import { ClusterCore, tickDelay } from '../core/node.ts'
import { protocolDefaults } from '../core/defaults.ts'
import { masterOnlyStartRefusal, routeReceive } from '../core/routing.ts'
import { Submission } from '../core/submit.ts'
import { decodeMessage, encodeMessage } from '../core/codec.ts'
import type { CoreConfig, CoreEvent, CoreStatus, Effect, MasterView, Message, Observation, QuorumMode, StoredState } from '../core/types.ts'
import { EventQueue } from './heap.ts'
import { createRng, hashString, type Rng } from './rng.ts'
import { burstTouches, defaultNetwork, Network, type LossBurst, type NetworkConfig, type PartitionRule } from './network.ts'
import { Checker, fmt, type ExecutionRecord } from './invariants.ts'
import { FLAP_WINDOW_MS } from '../core/membership.ts'
import { describeEvent, describeMessage } from './describe.ts'
import { nodeId } from './ids.ts'
import { ed25519Trust, privateKeyFromSeed, rawPublicKey, simKeySeed } from '../security/ed25519.ts'
import type { TrustCrypto, TrustRule } from '../core/trust.ts'

export type NodeState = 'idle' | 'up' | 'paused' | 'crashed' | 'left'

/** Task protocol between allocators (the agent's own stream protocol, not part of the core). */
type TaskMsg =
  | { t: 'task-req'; task: TaskSpec; attempt: number }
  | { t: 'task-reply'; task: string; attempt: number; kind: 'done' | 'failed' | 'redirect' | 'interrupted'; master?: MasterView | null }

export interface TaskSpec {
  id: string
  durationMs: number
}

interface JournalEntry {
  /** queued: accepted, waiting for one of the type's `taskConcurrency` slots (rec is null until it starts). */
  state: 'queued' | 'running' | 'done' | 'interrupted'
  waiters: { node: SimNode; gen: number; attempt: number }[]
  /** The term the task was accepted under (the start check compares it with the node's term then). */
  term: number | undefined
  durationMs: number
  rec: ExecutionRecord | null
}

interface PendingTask {
  spec: TaskSpec
  /** Deadline on the submitter's local clock. */
  deadline: number
  /** The agent's own submit state machine (src/core/submit.ts): attempts, redirects, retries through failover. */
  sub: Submission
  /** Bumps on every routing decision: a timer or a reply meant for an older decision is ignored. */
  seq: number
  submittedAt: number
}

export interface SimNode {
  id: string
  peer: string
  index: number
  core: ClusterCore | null
  state: NodeState
  /** Process generation: bumps on every (re)start; in-flight work of an older process is discarded. */
  gen: number
  /** Local clock: offset + virtual time * rate (rate within 1 +- skew). */
  rate: number
  offset: number
  pausedQueue: Ev[]
  tickPending: boolean
  /** The pending tick: its id (older tick events are stale) and virtual time; the local time of the last tick. */
  tickId: number
  tickAt: number
  lastTickLocal: number
  /** The core's next deadline (local time) as it named it after its last step. */
  dueLocal: number
  /** Task journal (survives a restart with kept state, lost with lost state). */
  journal: Map<string, JournalEntry>
  /** Tasks this node's allocator is routing for its clients (lost on crash). */
  pending: Map<string, PendingTask>
  /** The executor: attempts running now, and accepted tasks waiting for a slot, in order (lost on crash). */
  running: number
  runQueue: string[]
  /** Virtual time of the last fault that touched this node (crash, pause, partition, loss burst, join). */
  disturbedAt: number
  /** Set at a graceful leave: whether the node was free of faults then (its goodbye should reach everyone). */
  leftClean: boolean | null
  startedAt: number
  lastStatus: CoreStatus | null
  /** Virtual time of the last status() sample (term checks). */
  statusAt: number
  /** What the process last persisted to its data dir (handed back on a kept-state restart). */
  stored: StoredState | undefined
  /** Fault: crash right after the next persist effect, before the step's sends leave (durable-before-visible check). */
  crashAtPersist: boolean
  /** Virtual time the last pause ended (Infinity while paused, -Infinity if never paused). */
  pausedUntil: number
}

type Ev =
  | { k: 'tick'; node: SimNode; gen: number; id: number }
  | { k: 'deliver'; node: SimNode; gen: number; from: SimNode; msg: Message }
  | { k: 'observe'; node: SimNode; gen: number; obs: Observation }
  | { k: 'task'; node: SimNode; gen: number; from: SimNode; msg: TaskMsg }
  /** A timer of one node process (dropped if the process is gone, held while it is paused). */
  | { k: 'timer'; node: SimNode; gen: number; fn: () => void }
  /** A world action (fault schedule, client, checks). */
  | { k: 'call'; fn: () => void }

/**
 * How far back the healthy-declared-dead invariant requires clean connectivity: a healthy observer's evidence is at
 * most a probe round (0.8 s), a suspicion's longest timeout (6 x 500 ms x log10(15) = 3.5 s at 15 nodes) and the
 * gossip that carried it, so 6 s covers it.
 */
const HEALTHY_WINDOW_MS = 6_000

/** The simulated wall clock's epoch (2026-01-01): only its order across nodes matters (cluster ids, lineage.ts C3). */
const SIM_EPOCH_MS = Date.UTC(2026, 0, 1)

export interface WorldOptions {
  seed: number
  quorum: QuorumMode
  /** `expect` given to every core (the initial cluster size, like an operator would pass --expect). */
  expect: number
  network: NetworkConfig
  /** Clock-rate skew bound: each node's clock runs at 1 + u * skew, u uniform in [-1, 1]. */
  skew: number
  tickMs: number
  /** Deliver broadcast effects (gossipsub). Off: dropped, leaving SWIM's piggybacked gossip only. */
  broadcast: boolean
  protocol: Partial<CoreConfig>
  /** Check invariants after every step (the scale study turns this off for speed). */
  checks: boolean
  /** Longest virtual time between two status() samples of one node for the term checks. */
  statusEveryMs: number
  /** Loss at or below this makes a false positive a violation (when nothing else touched the node). */
  lossBound: number
  /**
   * The executor's per-type `concurrency`: accepted tasks beyond it wait in a queue and start when a slot frees,
   * where the core's masterOnlyStartRefusal is checked again. 1 (the agent's default is 4) makes queues, and so
   * that check, common at the sim's task rates. Default 1.
   */
  taskConcurrency?: number
  /** How long after a fault a node counts as disturbed for false-positive purposes. */
  disturbWindowMs: number
  trace: boolean
  traceMessages: boolean
  /** Keep a running hash of the trace (determinism test and replay check). */
  hash: boolean
  /**
   * Members sign their own claims with real Ed25519 (keys derived from the seed, src/security/ed25519.ts) and the
   * cores verify them (trust.ts R3). Default on: the simulator runs what the agent runs.
   */
  signing?: boolean
}

/** World options for a scripted run (tests, the fault matrix): every check on, no trace; `over` sets the rest. */
export function worldOptions(seed: number, over: Partial<WorldOptions> = {}): WorldOptions {
  return {
    seed,
    quorum: 'majority',
    expect: 1,
    network: { ...defaultNetwork },
    skew: 0.01,
    tickMs: 50,
    broadcast: true,
    protocol: {},
    checks: true,
    statusEveryMs: 100,
    lossBound: 0.2,
    disturbWindowMs: 12_000,
    trace: false,
    traceMessages: false,
    hash: false,
    ...over,
  }
}

export interface Counters {
  events: number
  direct: number
  broadcastCopies: number
  broadcastsDropped: number
  delivered: number
  lost: number
  byType: Map<string, number>
  /** Encoded bytes of direct messages and broadcasts (one copy each). */
  wireBytes: number
  /** Messages each node sent (a broadcast counts once per recipient: gossipsub's flood publish sends each a copy). */
  sentBy: Map<string, number>
  tasksSubmitted: number
  tasksAcked: number
  tasksFailed: number
  leftDeclaredDead: number
  /** Messages or updates honest cores dropped by a trust rule (trust.ts), by rule. */
  trustDrops: Map<TrustRule, number>
  /** Forged messages a hostile member sent (sim/hostile.ts), by kind. */
  forged: Map<string, number>
  /** Ticks the cores were given (node.ts tickDelay: at their deadlines, 50-250 ms apart). */
  ticks: number
}

export type EmitListener = (node: SimNode, event: CoreEvent, time: number) => void

export class World {
  now = 0
  readonly queue = new EventQueue<Ev>()
  readonly nodes: SimNode[] = []
  readonly byId = new Map<string, SimNode>()
  readonly byPeer = new Map<string, SimNode>()
  readonly net: Network
  readonly checker: Checker
  readonly rng: Rng
  private readonly nodeRng: Rng
  private readonly connections = new Set<string>()
  /** Nodes whose last sample said isMaster (the instantaneous two-masters check looks only at these). */
  private readonly masterSet = new Set<SimNode>()
  readonly trace: string[] = []
  hash = 0x811c9dc5
  readonly counters: Counters = {
    events: 0,
    direct: 0,
    broadcastCopies: 0,
    broadcastsDropped: 0,
    delivered: 0,
    lost: 0,
    byType: new Map(),
    wireBytes: 0,
    sentBy: new Map(),
    tasksSubmitted: 0,
    tasksAcked: 0,
    tasksFailed: 0,
    leftDeclaredDead: 0,
    trustDrops: new Map(),
    forged: new Map(),
    ticks: 0,
  }
  readonly emitListeners: EmitListener[] = []
  /** Set when a core throws: the run stops and reports it. */
  fatal: Error | null = null
  /** Raw Ed25519 public key of every simulated peer, and each node's signer (when opts.signing). */
  readonly publicKeys = new Map<string, Uint8Array>()
  private readonly signers = new Map<string, TrustCrypto>()
  /** Verdicts shared by the cores of this world: one real Ed25519 verification per distinct signed claim. */
  private readonly verdicts = new Map<string, boolean>()

  constructor(readonly opts: WorldOptions) {
    this.rng = createRng(opts.seed)
    this.net = new Network(opts.network, this.rng.fork('network'))
    this.nodeRng = this.rng.fork('nodes')
    this.checker = new Checker(opts.quorum === 'majority')
    if (opts.tickMs <= 0) throw new Error('tickMs must be > 0')
    if (opts.skew < 0 || opts.skew >= 0.5) throw new Error('skew must be in [0, 0.5)')
  }

  // ---- clocks and scheduling ----

  local(n: SimNode, t = this.now): number {
    return n.offset + t * n.rate
  }

  at(time: number, ev: Ev): void {
    this.queue.push(Math.max(time, this.now), ev)
  }

  call(delay: number, fn: () => void): void {
    this.at(this.now + delay, { k: 'call', fn })
  }

  timer(n: SimNode, delay: number, fn: () => void): void {
    this.at(this.now + delay, { k: 'timer', node: n, gen: n.gen, fn })
  }

  /** Run events until virtual time `until` (inclusive) or a fatal error. */
  runUntil(until: number): void {
    for (;;) {
      if (this.fatal) return
      const t = this.queue.peekTime()
      if (t === undefined || t > until) break
      const e = this.queue.pop()!
      this.now = e.time
      this.counters.events++
      this.dispatch(e.item)
    }
    this.now = Math.max(this.now, until)
  }

  // ---- nodes ----

  /** Create node-<index> (not started). */
  addNode(index: number): SimNode {
    const id = nodeId(index)
    if (this.byId.has(id)) throw new Error(`node ${id} exists`)
    const u = this.nodeRng() * 2 - 1
    const n: SimNode = {
      id,
      peer: id,
      index,
      core: null,
      state: 'idle',
      gen: 0,
      rate: 1 + u * this.opts.skew,
      offset: Math.floor(this.nodeRng() * 1e7),
      pausedQueue: [],
      tickPending: false,
      tickId: 0,
      tickAt: 0,
      lastTickLocal: -Infinity,
      dueLocal: -Infinity,
      journal: new Map(),
      pending: new Map(),
      running: 0,
      runQueue: [],
      disturbedAt: -Infinity,
      leftClean: null,
      startedAt: 0,
      lastStatus: null,
      statusAt: -Infinity,
      stored: undefined,
      crashAtPersist: false,
      pausedUntil: -Infinity,
    }
    this.nodes.push(n)
    this.byId.set(id, n)
    this.byPeer.set(n.peer, n)
    if (this.opts.signing !== false) {
      const priv = privateKeyFromSeed(simKeySeed(this.opts.seed, n.peer))
      this.publicKeys.set(n.peer, rawPublicKey(priv))
      this.signers.set(n.peer, ed25519Trust(priv, (peer) => this.publicKeys.get(peer), this.verdicts))
    }
    return n
  }

  /** Trust options of a node's core: its signer, and drops counted in counters.trustDrops. */
  private trustOf(n: SimNode) {
    const crypto = this.signers.get(n.peer)
    return {
      ...(crypto ? { crypto } : {}),
      dropped: (rule: TrustRule) => this.counters.trustDrops.set(rule, (this.counters.trustDrops.get(rule) ?? 0) + 1),
    }
  }

  coreConfig(n: SimNode): CoreConfig {
    return {
      ...protocolDefaults,
      ...this.opts.protocol,
      id: n.id,
      peer: n.peer,
      addrs: [`/sim/${n.id}`],
      quorum: this.opts.quorum,
      expect: this.opts.expect,
      // The node's wall clock: its local clock (skewed like every timer) plus a fixed epoch.
      wallClockAtStart: SIM_EPOCH_MS + this.local(n),
      ...(n.stored ? { stored: clone(n.stored) } : {}),
    }
  }

  /** Start (or restart) a node process with a fresh core and the given seed nodes. */
  start(n: SimNode, seeds: SimNode[]): void {
    if (n.state === 'up' || n.state === 'paused') throw new Error(`start: ${n.id} is running`)
    if (n.state === 'left') throw new Error(`start: ${n.id} left the cluster`)
    n.gen++
    n.state = 'up'
    n.leftClean = null
    n.startedAt = this.now
    n.pausedQueue = []
    n.lastStatus = null
    n.statusAt = -Infinity
    const rng = this.rng.fork(`core:${n.id}:${n.gen}`)
    const local = this.local(n)
    this.record(n, `start gen=${n.gen} seeds=${seeds.map((s) => s.id).join(',') || '-'}`)
    try {
      n.core = new ClusterCore(this.coreConfig(n), rng, local, this.trustOf(n))
    } catch (err) {
      this.fail(n, err)
      return
    }
    this.step(n, () => n.core!.start(seeds.map((s) => ({ peer: s.peer, addrs: [`/sim/${s.id}`] })), local))
    this.scheduleTick(n, this.rng() * this.opts.tickMs)
  }

  /** Crash: the process vanishes. Peers' connections drop (a hint they observe), in-flight work is lost. */
  crash(n: SimNode): void {
    if (n.state !== 'up' && n.state !== 'paused') return
    this.record(n, 'CRASH')
    this.stopProcess(n, 'crashed')
  }

  private stopProcess(n: SimNode, state: 'crashed' | 'left'): void {
    n.state = state
    n.core = null
    n.pausedQueue = []
    n.pending.clear()
    n.running = 0
    n.runQueue = []
    this.masterSet.delete(n)
    for (const [id, entry] of n.journal) {
      if (entry.state === 'running') {
        entry.state = 'interrupted'
        entry.rec!.interrupted = true
      } else if (entry.state === 'queued') n.journal.delete(id) // never started: its submitter sends it again
    }
    // The peers' transport connections to this process close: they observe it (a hint, never a verdict).
    for (const key of [...this.connections]) {
      const [a, b] = key.split('|')
      if (a !== n.peer && b !== n.peer) continue
      this.connections.delete(key)
      const other = this.byPeer.get(a === n.peer ? b : a)!
      if (other.state === 'up' || other.state === 'paused') {
        this.at(this.now + this.net.delay(), { k: 'observe', node: other, gen: other.gen, obs: { type: 'peer-disconnected', peer: n.peer } })
      }
    }
  }

  /**
   * Restart a crashed node with a fresh core (the real agent restarts with a new core and the same key).
   * keptState: the task journal survives (it lives in the data dir); lost: the journal is wiped too.
   * For the core both are the same: it starts from scratch and relearns its incarnation and terms.
   */
  restart(n: SimNode, keptState: boolean, seeds: SimNode[]): void {
    if (n.state !== 'crashed') return
    if (!keptState) {
      n.journal.clear()
      n.stored = undefined
      this.checker.lostState(n.id, this.now)
    }
    this.record(n, `RESTART ${keptState ? 'kept-state' : 'lost-state'}`)
    this.disturb(n)
    this.start(n, seeds)
  }

  /** Pause (SIGSTOP): the process stops running; the kernel keeps buffering its TCP streams. */
  pause(n: SimNode): void {
    if (n.state !== 'up') return
    this.record(n, 'PAUSE')
    n.state = 'paused'
    n.pausedUntil = Infinity
    this.disturb(n)
  }

  /** Resume (SIGCONT): the process first reads what the kernel buffered, in order, then its timers fire. */
  resume(n: SimNode): void {
    if (n.state !== 'paused') return
    this.record(n, `RESUME (${n.pausedQueue.length} buffered)`)
    n.state = 'up'
    n.pausedUntil = this.now
    this.disturb(n)
    const queued = n.pausedQueue
    n.pausedQueue = []
    for (const ev of queued) {
      if (n.state !== 'up' || this.fatal) break
      this.dispatch(ev)
    }
    if (n.state === 'up' && !n.tickPending) this.scheduleTick(n, 0)
  }

  /** Graceful leave: the core says goodbye, the process exits a moment later. */
  leave(n: SimNode): void {
    if (n.state !== 'up' || !n.core) return
    this.record(n, 'LEAVE')
    n.leftClean = !this.disturbed(n, this.opts.disturbWindowMs)
    const core = n.core
    this.step(n, () => core.leave(this.local(n)))
    const gen = n.gen
    this.call(100, () => {
      if (n.gen === gen && (n.state === 'up' || n.state === 'paused')) {
        this.record(n, 'EXIT')
        this.stopProcess(n, 'left')
      }
    })
  }

  /** A node that left starts again with its data dir (stored state) and no seeds: it must rejoin by itself. */
  returnAfterLeave(n: SimNode): void {
    if (n.state !== 'left') return
    this.record(n, 'RETURN after leave (same data dir, no seeds)')
    n.state = 'crashed'
    this.disturb(n)
    this.start(n, [])
  }

  /** `conclave remove <id>` run on node n. */
  remove(n: SimNode, id: string): string | null {
    if (n.state !== 'up' || !n.core) return 'node not running'
    let err: string | null = null
    this.step(n, () => {
      const r = n.core!.remove(id, this.local(n))
      if (!r.ok) {
        err = r.error
        return []
      }
      return r.effects
    })
    this.record(n, `REMOVE ${id}${err ? ` refused: ${err}` : ''}`)
    return err
  }

  disturb(n: SimNode): void {
    n.disturbedAt = this.now
  }

  /** Was n touched by a fault within `windowMs`, or is it cut by a partition or in a loss burst right now? */
  disturbed(n: SimNode, windowMs: number): boolean {
    if (this.now - n.disturbedAt < windowMs) return true
    if (this.net.inBurst(n.id, this.now)) return true
    for (const r of this.net.activeRules()) {
      const ids = r.kind === 'groups' ? r.groups.flat() : r.kind === 'bridge' ? [...r.left, ...r.right] : [...r.from, ...r.to]
      if (ids.includes(n.id)) return true
    }
    return false
  }

  isRunning(n: SimNode): boolean {
    return n.state === 'up' || n.state === 'paused'
  }

  // ---- partitions ----

  partition(rule: PartitionRule, label: string): void {
    this.net.partition(rule)
    this.topologyChanged()
    const touched =
      rule.kind === 'groups' ? rule.groups.flat() : rule.kind === 'bridge' ? [...rule.left, ...rule.bridge, ...rule.right] : [...rule.from, ...rule.to]
    for (const id of touched) {
      const n = this.byId.get(id)
      if (n) this.disturb(n)
    }
    this.record(null, `PARTITION ${label}`)
  }

  heal(): void {
    this.healRules()
    this.topologyChanged()
  }

  private healRules(): void {
    for (const rule of this.net.activeRules()) {
      const touched =
        rule.kind === 'groups' ? rule.groups.flat() : rule.kind === 'bridge' ? [...rule.left, ...rule.bridge, ...rule.right] : [...rule.from, ...rule.to]
      for (const id of touched) {
        const n = this.byId.get(id)
        if (n) this.disturb(n)
      }
    }
    this.net.heal()
    this.record(null, 'HEAL')
  }

  /** Extra loss for a while: on every link of `nodes` (all links when null), or with `inbound` only into them. */
  lossBurst(durationMs: number, loss: number, nodes: SimNode[] | null, inbound = false): void {
    this.burstLog.push(this.net.addBurst(this.now, this.now + durationMs, loss, nodes ? nodes.map((n) => n.id) : null, inbound))
    for (const n of nodes ?? this.nodes) n.disturbedAt = Math.max(n.disturbedAt, this.now + durationMs)
    const where = nodes ? `${inbound ? 'into ' : ''}${nodes.map((n) => n.id).join(',')}` : 'all links'
    this.record(null, `LOSS ${Math.round(loss * 100)}% for ${Math.round(durationMs)}ms on ${where}`)
  }

  // ---- connectivity history (the healthy-declared-dead invariant) ----

  /** Partition topology epochs, oldest first: from `from` on, `blocks` held (until the next epoch). */
  private readonly topology: { from: number; blocks: (from: string, to: string) => boolean }[] = [{ from: 0, blocks: () => false }]
  private readonly burstLog: LossBurst[] = []

  private topologyChanged(): void {
    this.topology.push({ from: this.now, blocks: this.net.snapshot() })
    // Epochs older than any window the checks look back over are dropped.
    while (this.topology.length > 2 && this.topology[1]!.from < this.now - 60_000) this.topology.shift()
    if (this.burstLog.length > 256) this.burstLog.splice(0, this.burstLog.length - 256)
  }

  /**
   * Could `a` and `b` talk both ways, with no partition and no loss burst beyond the run's loss bound on either
   * direction, for the whole of [since, now]?
   */
  linkClean(a: string, b: string, since: number): boolean {
    for (let i = this.topology.length - 1; i >= 0; i--) {
      const e = this.topology[i]!
      if (e.blocks(a, b) || e.blocks(b, a)) return false
      if (e.from <= since) break
    }
    for (const burst of this.burstLog) {
      if (burst.until <= since || burst.start > this.now || burst.loss <= this.opts.lossBound) continue
      if (burstTouches(burst, a, b) || burstTouches(burst, b, a)) return false
    }
    return true
  }

  /** Up, not paused or (re)started within the window, and connected both ways to a majority of the running nodes. */
  wellConnected(n: SimNode, since: number): boolean {
    if (n.state !== 'up' || n.startedAt > since || n.pausedUntil > since) return false
    const running = this.nodes.filter((x) => x.state === 'up' || x.state === 'paused')
    const reach = running.filter((x) => x === n || (x.state === 'up' && x.pausedUntil <= since && this.linkClean(n.id, x.id, since))).length
    return reach > running.length / 2
  }

  // ---- event dispatch ----

  private dispatch(ev: Ev): void {
    if (ev.k === 'call') {
      ev.fn()
      return
    }
    const n = ev.node
    if (ev.gen !== n.gen || (n.state !== 'up' && n.state !== 'paused')) return
    if (n.state === 'paused') {
      if (ev.k === 'tick') {
        if (ev.id === n.tickId) n.tickPending = false
      } else n.pausedQueue.push(ev)
      return
    }
    const core = n.core!
    switch (ev.k) {
      case 'tick': {
        if (ev.id !== n.tickId) return
        n.tickPending = false
        this.counters.ticks++
        const local = (n.lastTickLocal = this.local(n))
        // The core's schedule (node.ts nextTickAt): a tick before the deadline it named after its last step has nothing
        // to do. Ticks come early all the time (TICK_MAX_GAP_MS), so every seed checks that no deadline is left out.
        const due = n.dueLocal
        this.step(n, () => {
          const effects = core.tick(local)
          if (local < due && effects.length > 0) {
            const what = effects.map((e) => (e.type === 'send' ? `send ${e.msg.t}` : e.type === 'emit' ? `emit ${e.event.type}` : e.type)).join(', ')
            this.checker.add({ kind: 'early-tick', time: this.now, node: n.id, detail: `a tick ${(due - local).toFixed(1)} ms before the deadline did work: ${what}` })
          }
          return effects
        })
        return
      }
      case 'deliver': {
        this.counters.delivered++
        if (this.opts.traceMessages) this.record(n, `<- ${ev.from.id} ${describeMessage(ev.msg)}`)
        this.step(n, () => core.receive(ev.from.peer, ev.msg, this.local(n)))
        return
      }
      case 'observe': {
        if (this.opts.traceMessages) this.record(n, `observe ${ev.obs.type} ${ev.obs.peer}`)
        this.step(n, () => core.observe(ev.obs, this.local(n)))
        return
      }
      case 'task':
        this.onTaskMessage(n, ev.from, ev.msg)
        return
      case 'timer':
        ev.fn()
        return
    }
  }

  private scheduleTick(n: SimNode, delay: number): void {
    n.tickPending = true
    n.tickAt = this.now + delay
    this.at(n.tickAt, { k: 'tick', node: n, gen: n.gen, id: ++n.tickId })
  }

  /**
   * After every input, as the agent does: the next tick at the core's next deadline (tickDelay, on the node's own
   * clock), unless one is already due sooner; like a timer, it fires a little late now and then.
   */
  private planTick(n: SimNode): void {
    const core = n.core
    if (!core || n.state !== 'up') return
    const local = this.local(n)
    n.dueLocal = core.nextTickAt(local)
    const at = this.now + tickDelay(local, n.dueLocal, n.lastTickLocal, this.opts.tickMs) / n.rate
    if (n.tickPending && n.tickAt <= at) return
    this.scheduleTick(n, at - this.now + this.rng.exp(1) / n.rate)
  }

  /** Run one core input, carry out its effects, then check the invariants that concern this node. */
  private step(n: SimNode, input: () => Effect[]): void {
    let effects: Effect[]
    try {
      effects = input()
    } catch (err) {
      this.fail(n, err)
      return
    }
    let emitted = false
    for (const eff of effects) {
      if (this.fatal) return
      if (n.state !== 'up' && n.state !== 'paused') break
      switch (eff.type) {
        case 'persist':
          n.stored = clone(eff.state)
          if (n.crashAtPersist) {
            n.crashAtPersist = false
            this.record(n, 'CRASH after persist, before the step\'s sends')
            this.crash(n)
            return
          }
          break
        case 'send':
          this.send(n, eff.to, eff.msg)
          break
        case 'broadcast':
          this.broadcast(n, eff.msg)
          break
        case 'emit':
          if (eff.event.type !== 'probe' && eff.event.type !== 'member-state' && eff.event.type !== 'suspicion') emitted = true
          this.onEmit(n, eff.event)
          break
      }
    }
    if (this.opts.checks && n.core && n.state === 'up') this.checkNode(n, emitted)
    this.planTick(n)
  }

  private fail(n: SimNode, err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err))
    this.fatal = e
    this.checker.add({ kind: 'core-error', time: this.now, node: n.id, detail: `${e.message}\n${e.stack ?? ''}` })
    this.record(n, `CORE ERROR ${e.message}`)
  }

  private countType(t: string): void {
    this.counters.byType.set(t, (this.counters.byType.get(t) ?? 0) + 1)
  }

  /** A hostile member's forged message (sim/hostile.ts): sent like any other, through the codec and the network. */
  forge(from: SimNode, to: SimNode, msg: Message, kind: string): void {
    this.counters.forged.set(kind, (this.counters.forged.get(kind) ?? 0) + 1)
    this.send(from, to.peer, msg)
  }

  private send(from: SimNode, to: string, msg: Message): void {
    this.counters.direct++
    this.counters.sentBy.set(from.id, (this.counters.sentBy.get(from.id) ?? 0) + 1)
    this.countType(msg.t)
    const target = this.byPeer.get(to)
    if (!target || !this.isRunning(target)) {
      // Connection refused (or an unknown peer): the shell sees the send fail at once.
      const obs: Observation = { type: 'send-failed', peer: to, refused: true }
      this.at(this.now + this.net.delay(), { k: 'observe', node: from, gen: from.gen, obs })
      this.counters.lost++
      return
    }
    this.connect(from, target)
    const copies = this.net.plan(from.id, target.id, this.now)
    if (copies.length === 0) this.counters.lost++
    const snapshot = this.wire(from, msg)
    if (!snapshot) return
    copies.forEach((d, i) => {
      this.at(this.now + d, { k: 'deliver', node: target, gen: target.gen, from, msg: i === 0 ? snapshot : clone(snapshot) })
    })
  }

  /**
   * Every message goes through the agent's real encoder and decoder: a message the core builds that the wire would
   * refuse (over the size limit, off the schema) is a core bug, and fails the run.
   */
  private wire(from: SimNode, msg: Message): Message | null {
    let bytes: Uint8Array
    try {
      bytes = encodeMessage(msg)
    } catch (err) {
      this.fail(from, err)
      return null
    }
    this.counters.wireBytes += bytes.byteLength
    const d = decodeMessage(bytes)
    if (!d.ok) {
      this.fail(from, new Error(`the core sent a message the wire refuses: ${d.reason} ${d.detail}`))
      return null
    }
    return d.msg
  }

  private broadcast(from: SimNode, msg: Message): void {
    if (!this.opts.broadcast) {
      this.counters.broadcastsDropped++
      return
    }
    const snapshot = this.wire(from, msg)
    if (!snapshot) return
    let first = true
    for (const target of this.nodes) {
      if (target === from || !this.isRunning(target)) continue
      this.counters.broadcastCopies++
      this.counters.sentBy.set(from.id, (this.counters.sentBy.get(from.id) ?? 0) + 1)
      this.countType(`${msg.t}(broadcast)`)
      for (const d of this.net.plan(from.id, target.id, this.now)) {
        this.at(this.now + d, { k: 'deliver', node: target, gen: target.gen, from, msg: first ? snapshot : clone(snapshot) })
        first = false
      }
    }
  }

  /** First successful dial between two processes: both shells see the connection open. */
  private connect(a: SimNode, b: SimNode): void {
    if (a === b || this.net.blocked(a.id, b.id)) return
    const key = a.peer < b.peer ? `${a.peer}|${b.peer}` : `${b.peer}|${a.peer}`
    if (this.connections.has(key)) return
    this.connections.add(key)
    const d = this.net.delay()
    this.at(this.now + d, { k: 'observe', node: b, gen: b.gen, obs: { type: 'peer-connected', peer: a.peer, addrs: [`/sim/${a.id}`] } })
    this.at(this.now + d, { k: 'observe', node: a, gen: a.gen, obs: { type: 'peer-connected', peer: b.peer, addrs: [`/sim/${b.id}`] } })
  }

  private onEmit(n: SimNode, event: CoreEvent): void {
    if (this.opts.trace || this.opts.hash) this.record(n, describeEvent(event))
    if (event.type === 'became-master') this.checker.becameMaster(n.id, event.term, this.now, n.core?.clusterId() ?? '-')
    if (event.type === 'cluster-joined' && event.reason === 'merged' && event.from) {
      this.checker.merged(event.from, event.clusterId, n.core?.status(this.local(n)).maxTerm ?? 0, this.now)
    }
    if (event.type === 'member-state' && event.member.state === 'dead' && event.previous !== 'dead') {
      const target = this.byId.get(event.member.id)
      if (target && target.state === 'left') this.counters.leftDeclaredDead++
      if (target && target.state === 'up' && target.peer === event.member.peer) {
        const by = event.member.by ? this.byId.get(event.member.by) : undefined
        const w = this.opts.disturbWindowMs
        const reasons: string[] = []
        if (this.net.config.loss > this.opts.lossBound) reasons.push(`loss ${this.net.config.loss} above bound`)
        for (const x of new Set([target, n, by])) {
          if (x && this.disturbed(x, w)) reasons.push(`${x.id} disturbed (last fault ${fmt(x.disturbedAt)})`)
          if (x && x.startedAt > 0 && this.now - x.startedAt < w) reasons.push(`${x.id} (re)started at ${fmt(x.startedAt)}`)
        }
        const strict = reasons.length === 0
        this.checker.falsePositive(n.id, target.id, event.member.by, this.now, strict, strict ? `loss ${this.net.config.loss}` : reasons.join('; '))
        // Issue 13: two members that could talk to each other and to a majority throughout the evidence window are
        // never parted by a third node's fault (the accuser's disturbance is no excuse, unlike the check above).
        const since = this.now - HEALTHY_WINDOW_MS
        // A flapping member that holds its return (F1) is out by its own decision, which a fault near it must justify.
        const held = target.core?.status(this.local(target)).flapping === true
        if (held && this.disturbed(target, FLAP_WINDOW_MS)) {
          // justified: no violation
        } else if (
          this.opts.checks &&
          this.net.config.loss <= this.opts.lossBound &&
          this.wellConnected(n, since) &&
          this.wellConnected(target, since) &&
          this.linkClean(n.id, target.id, since)
        ) {
          this.checker.healthyDeclaredDead(n.id, target.id, event.member.by, this.now)
          this.record(n, `HEALTHY DECLARED DEAD: ${target.id} (raised by ${event.member.by ?? '?'})`)
        }
        this.record(n, `FALSE POSITIVE: ${target.id} is alive${strict ? ' (undisturbed: violation)' : ` (${reasons.join('; ')})`}`)
      }
    }
    for (const l of this.emitListeners) l(n, event, this.now)
  }

  /**
   * Per-step invariants for one node: at most one master at any instant (after every step: isMaster is cheap),
   * terms never decrease (status() is costly, so it is sampled: after any step that emitted an event and at
   * least every statusEveryMs of virtual time per node).
   */
  private checkNode(n: SimNode, emitted: boolean): void {
    const core = n.core!
    const local = this.local(n)
    let isMaster: boolean
    try {
      if (emitted || this.now - n.statusAt >= this.opts.statusEveryMs) {
        const st = core.status(local)
        n.statusAt = this.now
        n.lastStatus = st
        this.checker.status(n.id, n.gen, st.term, st.maxTerm, this.now)
        isMaster = st.isMaster
      } else {
        isMaster = core.isMaster(local)
      }
    } catch (err) {
      this.fail(n, err)
      return
    }
    if (this.opts.quorum !== 'majority') return
    if (isMaster) {
      if (!this.masterSet.has(n)) this.masterSet.add(n)
      for (const other of [...this.masterSet]) {
        if (other === n) continue
        if (!other.core || !this.isRunning(other) || !this.safeIsMaster(other)) {
          this.masterSet.delete(other)
          continue
        }
        // Two clusters that formed apart (a partition at first boot) each elect a master until they meet; the
        // rule is one master per lineage, and a merge steps the losing side's master down first (lineage.ts C3).
        if (other.core.clusterId() !== core.clusterId()) continue
        const ot = other.lastStatus
        this.checker.twoMasters(n.id, other.id, this.now, `${n.id} term ${n.lastStatus?.term ?? '?'}, ${other.id} term ${ot?.term ?? '?'}`)
        this.record(n, `VIOLATION two masters: ${n.id} and ${other.id}`)
      }
    } else {
      this.masterSet.delete(n)
    }
  }

  private safeIsMaster(n: SimNode): boolean {
    try {
      return n.core!.isMaster(this.local(n))
    } catch (err) {
      this.fail(n, err)
      return false
    }
  }

  /** Running nodes (other than `except`) that claim mastership right now. */
  mastersNow(except?: SimNode): SimNode[] {
    const out: SimNode[] = []
    for (const n of this.nodes) {
      if (n === except || !n.core || !this.isRunning(n)) continue
      if (this.safeIsMaster(n)) out.push(n)
    }
    return out
  }

  // ---- tasks (the allocator) ----

  /** A client submits a masterOnly task to node n's API. Returns false when n cannot take it. */
  submit(n: SimNode, spec: TaskSpec, deadlineMs: number): boolean {
    if (n.state !== 'up' || !n.core) return false
    this.counters.tasksSubmitted++
    const p: PendingTask = { spec, deadline: this.local(n) + deadlineMs * n.rate, sub: new Submission(1), seq: 0, submittedAt: this.now }
    n.pending.set(spec.id, p)
    this.record(n, `task ${spec.id} submitted`)
    this.route(n, spec.id)
    return true
  }

  private route(n: SimNode, taskId: string): void {
    const p = n.pending.get(taskId)
    if (!p || !n.core) return
    const core = n.core
    const local = this.local(n)
    const seq = ++p.seq
    const st = core.status(local)
    const master = core.master(local)
    const step = p.sub.next({ masterOnly: true, self: n.id, master, isMaster: core.isMaster(local), quorum: st.quorum, deadline: p.deadline, now: local }, master?.term)
    // Emulates the shell: the agent's waitForMaster also wakes on a master change, which the simulator does not
    // signal, so its waits poll every 100 ms at most.
    const again = (ms: number, before?: () => void) =>
      this.timer(n, Math.min(ms, 100), () => {
        const q = n.pending.get(taskId)
        if (!q || q.seq !== seq) return
        before?.()
        this.route(n, taskId)
      })
    switch (step.kind) {
      case 'run-local':
        this.onTaskRequest(n, n, { t: 'task-req', task: p.spec, attempt: step.attempt })
        break
      case 'forward': {
        const target = this.byId.get(step.to)
        this.record(n, `task ${taskId} -> ${step.to} (term ${step.term}, attempt ${step.attempt})`)
        if (target) this.sendTask(n, target, { t: 'task-req', task: p.spec, attempt: step.attempt })
        // The shell's forward gives up on an answer that does not come: a lost forward (same id, maybe a new attempt).
        this.timer(n, 300, () => {
          const q = n.pending.get(taskId)
          if (q && q.seq === seq) {
            q.sub.lostForward(step.to, step.term)
            this.route(n, taskId)
          }
        })
        break
      }
      case 'wait':
        again(step.ms)
        break
      case 'fail':
        n.pending.delete(taskId)
        this.counters.tasksFailed++
        this.record(n, `task ${taskId} failed: ${step.error} (${step.reason})`)
        break
    }
  }

  private sendTask(from: SimNode, to: SimNode, msg: TaskMsg): void {
    if (!this.isRunning(to)) return // dial refused: the retry timer re-routes
    for (const d of this.net.plan(from.id, to.id, this.now)) {
      this.at(this.now + d, { k: 'task', node: to, gen: to.gen, from, msg })
    }
  }

  private onTaskMessage(n: SimNode, from: SimNode, msg: TaskMsg): void {
    if (msg.t === 'task-req') this.onTaskRequest(n, from, msg)
    else this.onTaskReply(n, from, msg)
  }

  private reply(from: SimNode, to: SimNode, msg: Extract<TaskMsg, { t: 'task-reply' }>): void {
    if (from === to) this.timer(to, 0, () => this.onTaskReply(to, from, msg))
    else this.sendTask(from, to, msg)
  }

  private onTaskRequest(n: SimNode, from: SimNode, msg: Extract<TaskMsg, { t: 'task-req' }>): void {
    const core = n.core!
    const local = this.local(n)
    const entry = n.journal.get(msg.task.id)
    const isMaster = core.isMaster(local)
    const dec = routeReceive({
      masterOnly: true,
      known: true,
      self: n.id,
      master: core.master(local),
      isMaster,
      finished: entry !== undefined && entry.state !== 'running' && entry.state !== 'queued',
      inProgress: entry !== undefined && (entry.state === 'running' || entry.state === 'queued'),
    })
    const id = msg.task.id
    switch (dec.action) {
      case 'stored':
        this.reply(n, from, { t: 'task-reply', task: id, attempt: msg.attempt, kind: entry!.state === 'done' ? 'done' : 'failed' })
        break
      case 'join':
        entry!.waiters.push({ node: from, gen: from.gen, attempt: msg.attempt })
        break
      case 'redirect':
        this.reply(n, from, { t: 'task-reply', task: id, attempt: msg.attempt, kind: 'redirect', master: dec.master })
        break
      case 'reject':
        this.reply(n, from, { t: 'task-reply', task: id, attempt: msg.attempt, kind: 'failed' })
        break
      case 'run': {
        const je: JournalEntry = { state: 'queued', waiters: [{ node: from, gen: from.gen, attempt: msg.attempt }], term: dec.term, durationMs: msg.task.durationMs, rec: null }
        n.journal.set(id, je)
        n.runQueue.push(id)
        this.startQueued(n)
        break
      }
    }
  }

  /** The executor: start queued tasks while slots are free; each start checks the role again (the core's rule). */
  private startQueued(n: SimNode): void {
    while (n.running < (this.opts.taskConcurrency ?? 1) && n.runQueue.length > 0 && n.core) {
      const id = n.runQueue.shift()!
      const je = n.journal.get(id)
      if (!je || je.state !== 'queued') continue
      const local = this.local(n)
      const isMaster = n.core.isMaster(local)
      const refusal = masterOnlyStartRefusal({ self: n.id, master: n.core.master(local), isMaster }, je.term)
      if (refusal !== null) {
        // Never started: out of the journal, and its submitters retry it on the next master.
        n.journal.delete(id)
        this.record(n, `EXEC ${id} not started: ${refusal}`)
        for (const w of je.waiters) {
          if (w.gen === w.node.gen) this.reply(n, w.node, { t: 'task-reply', task: id, attempt: w.attempt, kind: 'interrupted' })
        }
        continue
      }
      const rec: ExecutionRecord = { task: id, node: n.id, gen: n.gen, term: je.term, start: this.now, end: null, interrupted: false }
      // Other masters of the same lineage: two clusters born apart each run masterOnly work until they meet.
      const cluster = n.core.clusterId() ?? '-'
      const others = this.opts.quorum === 'majority' ? this.mastersNow(n).filter((o) => o.core?.clusterId() === cluster).map((o) => o.id) : []
      this.checker.executionStart(rec, isMaster, others, cluster)
      je.state = 'running'
      je.rec = rec
      n.running++
      this.record(n, `EXEC ${id} start term=${je.term ?? '-'}`)
      this.timer(n, je.durationMs / n.rate, () => {
        je.state = 'done'
        rec.end = this.now
        n.running--
        this.record(n, `EXEC ${id} done`)
        for (const w of je.waiters) {
          if (w.gen === w.node.gen) this.reply(n, w.node, { t: 'task-reply', task: id, attempt: w.attempt, kind: 'done' })
        }
        je.waiters = []
        this.startQueued(n)
      })
    }
  }

  private onTaskReply(n: SimNode, from: SimNode, msg: Extract<TaskMsg, { t: 'task-reply' }>): void {
    const p = n.pending.get(msg.task)
    if (!p) return
    switch (msg.kind) {
      case 'done':
        n.pending.delete(msg.task)
        this.counters.tasksAcked++
        this.checker.ack(msg.task, from.id, this.now)
        this.record(n, `task ${msg.task} acknowledged (ran on ${from.id})`)
        break
      case 'failed':
        n.pending.delete(msg.task)
        this.counters.tasksFailed++
        this.record(n, `task ${msg.task} failed on ${from.id}`)
        break
      case 'interrupted': {
        // The master it was sent to did not start it (it stepped down while the task queued): like the shell, retry.
        if (msg.attempt !== p.sub.attempt) return
        const seq = ++p.seq
        const ms = p.sub.interrupted(from.id)
        this.timer(n, ms, () => {
          const q = n.pending.get(msg.task)
          if (q && q.seq === seq) this.route(n, msg.task)
        })
        break
      }
      case 'redirect': {
        if (msg.attempt !== p.sub.attempt) return
        const seq = ++p.seq
        const ms = p.sub.redirected(msg.master ?? null)
        this.timer(n, ms, () => {
          const q = n.pending.get(msg.task)
          if (q && q.seq === seq) this.route(n, msg.task)
        })
        break
      }
    }
  }

  // ---- trace ----

  record(n: SimNode | null, text: string): void {
    if (!this.opts.trace && !this.opts.hash) return
    const line = `${(this.now / 1000).toFixed(4).padStart(10)} ${(n ? n.id : '*').padEnd(8)} ${text}`
    if (this.opts.hash) this.hash = hashString(line, this.hash)
    if (this.opts.trace) this.trace.push(line)
  }
}

/** Deep copy of plain message data: what goes over the wire is a snapshot, never shared between cores. */
export function clone<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v
  if (v instanceof Uint8Array) return v.slice() as T
  if (Array.isArray(v)) return v.map(clone) as T
  const out: Record<string, unknown> = {}
  for (const k in v as Record<string, unknown>) out[k] = clone((v as Record<string, unknown>)[k])
  return out as T
}
