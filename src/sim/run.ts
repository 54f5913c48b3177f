// One simulated run: boot a cluster, inject faults for a while, stop the faults, and check that the live nodes
// converge on one membership view and one master. Everything is a function of the options and the seed.
import type { CoreConfig, QuorumMode } from '../core/types.ts'
import { World, type SimNode } from './world.ts'
import { createRng } from './rng.ts'
import { defaultNetwork, type NetworkConfig } from './network.ts'
import { FaultInjector, defaultFaultOptions, type FaultKind, type FaultOptions } from './faults.ts'
import { fmt, type Violation } from './invariants.ts'
import { lowestId } from './ids.ts'
import { forgeries, openGapForgeries, runHostile } from './hostile.ts'

export interface RunOptions {
  seed: number
  /** Initial cluster size. */
  nodes: number
  quorum: QuorumMode
  faults: FaultKind[]
  /** Length of the fault phase (virtual ms). */
  durationMs: number
  /** Convergence must be reached within this long after faults stop. */
  settleMaxMs: number
  /** Convergence must hold this long to count. */
  holdMs: number
  /** Base loss of every message copy. */
  loss: number
  lossBound: number
  skew: number
  tickMs: number
  broadcast: boolean
  /** Client task submissions per virtual second (0: none). */
  taskRate: number
  taskDeadlineMs: number
  protocol: Partial<CoreConfig>
  network: Partial<NetworkConfig>
  faultOptions: Partial<Omit<FaultOptions, 'kinds'>>
  /**
   * How the cluster is born: `expect` gives every core --expect N (an operator who knows the size), `window` the
   * default a user runs (no --expect: the discovery window), `mixed` picks window for odd seeds.
   */
  coldStart: 'expect' | 'window' | 'mixed'
  trace: boolean
  traceMessages: boolean
  /**
   * The highest-numbered node is a hostile member (sim/hostile.ts) that forges messages during the fault phase;
   * 'open-gaps' makes it send the forgeries the core does not stop yet (docs/security.md).
   */
  hostile: boolean | 'open-gaps'
  /** Ed25519 signing of self-claims (WorldOptions.signing); on by default, off only to measure its cost. */
  signing: boolean
}

export const defaultRunOptions: Omit<RunOptions, 'seed' | 'nodes'> = {
  quorum: 'majority',
  faults: ['partition', 'bridge', 'oneway', 'crash', 'pause', 'loss', 'join', 'leave', 'remove'],
  durationMs: 20_000,
  settleMaxMs: 40_000,
  holdMs: 1_000,
  loss: 0.01,
  lossBound: 0.2,
  skew: 0.01,
  /** The least time between two ticks of a core (src/core/node.ts TICK_MIN_GAP_MS, as the agent drives it). */
  tickMs: 50,
  broadcast: true,
  taskRate: 4,
  taskDeadlineMs: 5_000,
  protocol: {},
  network: {},
  faultOptions: {},
  coldStart: 'mixed',
  trace: false,
  traceMessages: false,
  hostile: false,
  signing: true,
}

export interface RunResult {
  seed: number
  nodes: number
  ok: boolean
  violations: Violation[]
  /** Virtual ms from the end of the faults until every live node agreed (null: never). */
  convergenceMs: number | null
  /** Virtual ms from a crash/pause of the master until all running nodes named one new master. */
  failoversMs: number[]
  falsePositives: number
  falsePositivesStrict: number
  tasks: { submitted: number; acked: number; failed: number; executions: number; crossNodeDuplicates: number }
  messages: number
  events: number
  virtualMs: number
  faults: Record<string, number>
  traceHash: string
  trace: string[]
  finalMaster: string | null
  wallMs: number
  /** Messages or updates the cores dropped by a trust rule, and forgeries sent (hostile runs), by name. */
  trustDrops: Record<string, number>
  forged: Record<string, number>
}

/** Check convergence: the reason it does not hold yet, or null when it does. */
export function convergenceGap(world: World, quorum: QuorumMode): string | null {
  const live = world.nodes.filter((n) => n.state === 'up')
  if (live.length === 0) return 'no live node'
  const expected = lowestId(live.map((n) => n.id))!
  for (const n of live) {
    const core = n.core!
    const local = world.local(n)
    const st = core.status(local)
    const seen = new Map(st.members.map((m) => [m.id, m]))
    for (const other of world.nodes) {
      if (other.state === 'idle') continue
      const m = seen.get(other.id)
      if (other.state === 'up') {
        if (!m) return `${n.id} does not know ${other.id}`
        if (m.state !== 'alive') return `${n.id} sees ${other.id} ${m.state}`
      } else if (other.state === 'crashed') {
        // A crash in the middle of a graceful leave may leave the goodbye behind it.
        if (m && m.state !== 'dead' && !(m.state === 'left' && other.leftClean !== null)) return `${n.id} sees crashed ${other.id} ${m.state}`
      } else if (other.state === 'left') {
        // A goodbye sent while faults cut the node off may reach no one: then dead is the right verdict.
        if (m && m.state !== 'left' && (other.leftClean || m.state !== 'dead')) return `${n.id} sees departed ${other.id} ${m.state}`
      }
    }
    if (quorum === 'majority') {
      const cluster = core.clusterId()
      const other = live.find((x) => x.core!.clusterId() !== cluster)
      if (cluster === null || other) return `${n.id} is in cluster ${cluster ?? 'none'}${other ? `, ${other.id} in ${other.core!.clusterId() ?? 'none'}` : ''}`
    }
    const master = core.master(local)
    if (master?.id !== expected) return `${n.id} names master ${master ? `${master.id}@${master.term}` : 'none'}, expected ${expected}`
    if (quorum === 'majority') {
      const shouldLead = n.id === expected
      if (core.isMaster(local) !== shouldLead) return `${n.id} isMaster=${!shouldLead}`
    }
  }
  return null
}

export function coldStartOf(o: Pick<RunOptions, 'coldStart' | 'seed'>): 'expect' | 'window' {
  return o.coldStart === 'mixed' ? (o.seed % 2 === 1 ? 'window' : 'expect') : o.coldStart
}

export function runSeed(partial: Partial<RunOptions> & { seed: number; nodes: number }): RunResult {
  const o: RunOptions = { ...defaultRunOptions, ...partial }
  if (!Number.isInteger(o.nodes) || o.nodes < 1) throw new Error(`nodes must be a positive integer, got ${o.nodes}`)
  const wallStart = performance.now()
  const world = new World({
    seed: o.seed,
    quorum: o.quorum,
    expect: coldStartOf(o) === 'window' ? 1 : o.nodes,
    network: { ...defaultNetwork, ...o.network, loss: o.loss },
    skew: o.skew,
    tickMs: o.tickMs,
    broadcast: o.broadcast,
    protocol: o.protocol,
    checks: true,
    statusEveryMs: 100,
    lossBound: o.lossBound,
    disturbWindowMs: 12_000,
    trace: o.trace || o.traceMessages,
    traceMessages: o.traceMessages,
    hash: true,
    signing: o.signing,
  })
  const scenario = createRng(o.seed).fork('scenario')
  world.record(null, `seed ${o.seed}: ${o.nodes} nodes, quorum ${o.quorum}, faults ${o.faults.join(',') || 'none'}, loss ${o.loss}, cold start ${coldStartOf(o)}`)

  // Boot: every node starts within 300 ms with 1-3 bootstrap peers among the others.
  for (let i = 1; i <= o.nodes; i++) world.addNode(i)
  for (const n of world.nodes) {
    const others = world.nodes.filter((x) => x !== n)
    const seeds = scenario.shuffle([...others]).slice(0, Math.min(others.length, 1 + scenario.int(3)))
    world.call(scenario.range(0, 300), () => world.start(n, seeds))
  }

  const faultStart = scenario.range(0, 3000)
  const faultEnd = faultStart + o.durationMs
  const injector = new FaultInjector(world, scenario.fork('faults'), { ...defaultFaultOptions, ...o.faultOptions, kinds: o.faults })
  injector.schedule(faultStart, faultEnd)
  if (o.hostile) runHostile(world, world.nodes[world.nodes.length - 1], createRng(o.seed).fork('hostile'), faultStart, faultEnd, o.hostile === 'open-gaps' ? openGapForgeries : forgeries)

  // Failover watch: a crash or pause of the master starts a clock that stops when every running node names
  // one other master that holds a majority; another fault meanwhile cancels the measurement.
  const failovers: number[] = []
  let watch: { old: SimNode; since: number } | null = null
  injector.onMasterHit = (old) => {
    watch = { old, since: world.now }
  }
  injector.onFault = () => {
    if (watch && watch.since !== world.now) watch = null
  }
  const checkFailover = () => {
    if (!watch) return
    const running = world.nodes.filter((n) => n.state === 'up')
    const masters = world.mastersNow().filter((n) => n !== watch!.old)
    if (masters.length !== 1) return
    const m = masters[0]
    if (running.every((n) => n.core!.master(world.local(n))?.id === m.id)) {
      failovers.push(world.now - watch.since)
      world.record(null, `failover ${watch.old.id} -> ${m.id} in ${Math.round(world.now - watch.since)}ms`)
      watch = null
    }
  }

  // Clients: Poisson submissions of masterOnly tasks to random running nodes, until faults stop.
  let taskSeq = 0
  if (o.taskRate > 0) {
    const clientRng = scenario.fork('clients')
    let t = clientRng.exp(1000 / o.taskRate)
    while (t < faultEnd) {
      world.call(t, () => {
        const up = world.nodes.filter((n) => n.state === 'up')
        if (up.length === 0) return
        const n = clientRng.pick(up)
        world.submit(n, { id: `t${++taskSeq}`, durationMs: clientRng.range(5, 100) }, o.taskDeadlineMs)
      })
      t += clientRng.exp(1000 / o.taskRate)
    }
  }

  const step = 50
  for (let t = step; t <= faultEnd && !world.fatal; t += step) {
    world.runUntil(t)
    if (o.quorum === 'majority') checkFailover()
  }
  world.runUntil(faultEnd)
  watch = null

  let convergenceMs: number | null = null
  if (!world.fatal) {
    injector.quiesce()
    const quiet = world.now
    world.record(null, 'FAULTS STOP: network healed, paused nodes resumed, crashed nodes restarted (except permanent ones)')
    let since: number | null = null
    let gap: string | null = 'not checked'
    const limit = quiet + o.settleMaxMs + o.holdMs
    while (world.now < limit && !world.fatal) {
      world.runUntil(world.now + 100)
      if (world.fatal) break
      try {
        gap = convergenceGap(world, o.quorum)
      } catch (err) {
        world.fatal = err instanceof Error ? err : new Error(String(err))
        world.checker.add({ kind: 'core-error', time: world.now, detail: world.fatal.message })
        break
      }
      if (gap === null) {
        if (since === null) since = world.now
        if (world.now - since >= o.holdMs) break
      } else {
        since = null
      }
    }
    if (!world.fatal) {
      if (gap === null && since !== null) {
        convergenceMs = since - quiet
        world.record(null, `CONVERGED ${Math.round(convergenceMs)}ms after faults stopped`)
      } else {
        world.checker.add({
          kind: 'no-convergence',
          time: world.now,
          detail: `not converged ${fmt(o.settleMaxMs)} after faults stopped: ${gap}`,
        })
        world.record(null, `NOT CONVERGED: ${gap}`)
      }
    }
  }
  world.checker.finish()
  const traceHash = (world.hash >>> 0).toString(16).padStart(8, '0')
  if (o.trace && !world.fatal) {
    for (const n of world.nodes) {
      if (n.state !== 'up' || !n.core) {
        world.record(n, `final: ${n.state}`)
        continue
      }
      const st = n.core.status(world.local(n))
      const q = st.quorum
      world.record(
        n,
        `final: inc=${st.incarnation} term=${st.term} maxTerm=${st.maxTerm} master=${st.master ? `${st.master.id}@${st.master.term}` : 'none'} isMaster=${st.isMaster} quorum=${q.has ? 'yes' : 'no'} ${q.visible}/${q.voting} need ${q.needed} config=v${st.config?.version ?? '-'}[${st.config?.voters.join(',') ?? ''}] members=${st.members.map((m) => `${m.id}:${m.state}:${m.incarnation}`).join(' ')}`,
      )
    }
  }

  const live = world.nodes.filter((n) => n.state === 'up')
  const masters = world.fatal ? [] : world.mastersNow()
  const c = world.counters
  const checker = world.checker
  return {
    seed: o.seed,
    nodes: o.nodes,
    ok: checker.violations.length === 0,
    violations: checker.violations,
    convergenceMs,
    failoversMs: failovers,
    falsePositives: checker.falsePositives,
    falsePositivesStrict: checker.falsePositivesStrict,
    tasks: {
      submitted: c.tasksSubmitted,
      acked: c.tasksAcked,
      failed: c.tasksFailed,
      executions: checker.executions.length,
      crossNodeDuplicates: checker.crossNodeDuplicates,
    },
    messages: c.direct + c.broadcastCopies,
    events: c.events,
    virtualMs: world.now,
    faults: Object.fromEntries(injector.stats.byKind),
    traceHash,
    trace: world.trace,
    finalMaster: masters.length === 1 ? masters[0].id : live.length ? null : null,
    wallMs: performance.now() - wallStart,
    trustDrops: Object.fromEntries(c.trustDrops),
    forged: Object.fromEntries(c.forged),
  }
}
