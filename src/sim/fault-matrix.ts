// Issue 13's fault matrix in the simulator: one sick node (ingress blocked and unblocked in turn, 80% ingress loss,
// cannot hear, cannot send), two members crashing at once, a kill and a heal; each run reports what the healthy
// observers saw. The same faults run on real agents in network namespaces (scripts/scenarios/); here they run over
// many seeds in a second, with every invariant of the world checked (healthy-declared-dead among them).
import type { CoreEvent } from '../core/types.ts'
import { defaultNetwork } from './network.ts'
import type { Violation } from './invariants.ts'
import { type SimNode, World, worldOptions } from './world.ts'

export const MATRIX_FAULTS = ['ingress-toggle', 'ingress-loss', 'deaf', 'mute', 'crash-two', 'kill', 'heal'] as const
export type MatrixFault = (typeof MATRIX_FAULTS)[number]

export interface MatrixOptions {
  seed: number
  nodes: number
  fault: MatrixFault
  /** How long the fault lasts (virtual ms); the toggle flips every togglePeriodMs within it. */
  durationMs?: number
  togglePeriodMs?: number
  /** Observation after the fault ends (virtual ms). */
  tailMs?: number
}

/**
 * The run test/sim/fault-matrix.test.ts checks (and src/sim/matrix-study.ts repeats over many seeds). The issue's
 * fault is 60 s with 10 s flips; half of it keeps the three deaf spells and the CI budget.
 */
export const CHECKED_RUN = { durationMs: 30_000, togglePeriodMs: 5_000, tailMs: 15_000 } satisfies Partial<MatrixOptions>

export interface MatrixResult {
  fault: MatrixFault
  seed: number
  nodes: number
  /** The faulty node (the sick one, or the first of the crashed / the killed / the isolated). */
  faulty: string[]
  /** Healthy observers' verdicts of dead about healthy members (the bound: zero). */
  healthyDeaths: number
  /** Suspicions of healthy members raised or held by healthy observers (allowed: they are refuted). */
  healthySuspicions: number
  /** Per healthy observer: times it removed (alive/suspect -> dead) and re-admitted (dead -> alive) the faulty node. */
  removals: Record<string, number>
  readmissions: Record<string, number>
  /** View changes (member state transitions) per healthy observer, about anyone. */
  viewChanges: Record<string, number>
  /** kill / crash-two: from the crash until the crashed are dead in every live view; heal: until alive in every view. */
  settleMs: number | null
  /** Virtual ms during which healthy observers did not all hold the same live set. */
  disagreeMs: number
  violations: Violation[]
}

/** The cluster forms, and the fault starts after F1's start-up grace (membership.ts F1_STARTUP_GRACE_MS, 10 s). */
const SETTLE_MS = 12_000
const SAMPLE_MS = 10

export function runMatrix(o: MatrixOptions): MatrixResult {
  const durationMs = o.durationMs ?? 60_000
  const period = o.togglePeriodMs ?? 10_000
  const world = new World(worldOptions(o.seed, { network: { ...defaultNetwork, loss: 0.01 } }))
  for (let i = 1; i <= o.nodes; i++) world.addNode(i)
  const [first] = world.nodes
  for (const n of world.nodes) world.call(n === first ? 0 : 50 + 20 * n.index, () => world.start(n, n === first ? [] : [first!]))
  world.runUntil(SETTLE_MS)

  // The faulty node is never the master (node-1) for the sick faults: the question is what it does to the others.
  const pick = (k: number) => world.nodes.slice(o.nodes - k)
  const faulty = o.fault === 'crash-two' ? [world.nodes[0]!, world.nodes[o.nodes - 1]!] : pick(1)
  const faultyIds = new Set(faulty.map((n) => n.id))
  const healthy = () => world.nodes.filter((n) => n.state === 'up' && !faultyIds.has(n.id))
  const others = (v: SimNode) => world.nodes.filter((n) => n !== v).map((n) => n.id)

  const r: MatrixResult = {
    fault: o.fault,
    seed: o.seed,
    nodes: o.nodes,
    faulty: [...faultyIds],
    healthyDeaths: 0,
    healthySuspicions: 0,
    removals: {},
    readmissions: {},
    viewChanges: {},
    settleMs: null,
    disagreeMs: 0,
    violations: [],
  }
  const start = world.now
  world.emitListeners.push((n: SimNode, e: CoreEvent) => {
    if (world.now < start || faultyIds.has(n.id) || e.type !== 'member-state') return
    r.viewChanges[n.id] = (r.viewChanges[n.id] ?? 0) + 1
    const target = e.member.id
    if (faultyIds.has(target)) {
      if (e.member.state === 'dead' && e.previous !== 'dead') r.removals[n.id] = (r.removals[n.id] ?? 0) + 1
      if (e.member.state === 'alive' && e.previous === 'dead') r.readmissions[n.id] = (r.readmissions[n.id] ?? 0) + 1
      return
    }
    if (e.member.state === 'dead') r.healthyDeaths++
    if (e.member.state === 'suspect') r.healthySuspicions++
  })

  const v = faulty[0]!
  let faultEnd = start + durationMs
  switch (o.fault) {
    case 'ingress-toggle': {
      const flip = (on: boolean) => {
        if (world.now >= faultEnd) return world.heal()
        if (on) world.partition({ kind: 'oneway', from: others(v), to: [v.id] }, `${v.id} cannot hear`)
        else world.heal()
        world.call(period, () => flip(!on))
      }
      flip(true)
      world.call(durationMs, () => world.heal())
      break
    }
    case 'ingress-loss':
      world.lossBurst(durationMs, 0.8, [v], true)
      break
    case 'deaf':
      world.partition({ kind: 'oneway', from: others(v), to: [v.id] }, `${v.id} cannot hear`)
      world.call(durationMs, () => world.heal())
      break
    case 'mute':
      world.partition({ kind: 'oneway', from: [v.id], to: others(v) }, `${v.id} cannot send`)
      world.call(durationMs, () => world.heal())
      break
    case 'crash-two':
    case 'kill':
      for (const n of faulty) world.crash(n)
      faultEnd = start
      break
    case 'heal':
      world.partition({ kind: 'groups', groups: [[v.id], others(v)] }, `${v.id} isolated`)
      world.call(durationMs, () => world.heal())
      break
  }

  // Sample every SAMPLE_MS: disagreement among healthy observers, and the settle time of kill, crash-two and heal.
  const liveSet = (n: SimNode) =>
    n.core!
      .status(world.local(n))
      .members.filter((m) => m.state === 'alive' || m.state === 'suspect')
      .map((m) => m.id)
      .join(',')
  const until = faultEnd + (o.tailMs ?? 20_000)
  const healFrom = o.fault === 'heal' ? start + durationMs : start
  while (world.now < until && !world.fatal) {
    world.runUntil(world.now + SAMPLE_MS)
    const views = healthy().map(liveSet)
    if (new Set(views).size > 1) r.disagreeMs += SAMPLE_MS
    if (r.settleMs === null && world.now >= healFrom) {
      const live = world.nodes.filter((n) => n.state === 'up')
      const done = live.every((n) => {
        const st = n.core!.status(world.local(n))
        return [...faultyIds].every((id) => {
          const m = st.members.find((x) => x.id === id)
          if (o.fault === 'heal') return n.id === id || m?.state === 'alive'
          return m?.state === 'dead'
        })
      })
      if (done) r.settleMs = world.now - healFrom
    }
  }
  r.violations = [...world.checker.violations]
  return r
}
