// Fault schedule generator. Driven by its own seeded rng, it picks at random moments one fault from the allowed
// mix, aims it (often at the current master, where bugs live), and schedules its end. At the quiesce time
// everything is put right except a minority of permanent crashes, and the convergence check starts.
import type { Rng } from './rng.ts'
import type { SimNode, World } from './world.ts'
import { lowestId, naturalCompare } from './ids.ts'

export const FAULT_KINDS = ['partition', 'bridge', 'oneway', 'crash', 'pause', 'loss', 'join', 'leave', 'remove', 'crash-persist', 'sick', 'crash-two'] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

export function parseFaults(spec: string): FaultKind[] {
  const s = spec.trim()
  if (s === 'none' || s === '') return []
  if (s === 'all') return [...FAULT_KINDS]
  const out: FaultKind[] = []
  for (const part of s.split(',')) {
    const k = part.trim()
    if (!(FAULT_KINDS as readonly string[]).includes(k)) {
      throw new Error(`unknown fault kind "${k}" (known: ${FAULT_KINDS.join(', ')}, or all, none)`)
    }
    if (!out.includes(k as FaultKind)) out.push(k as FaultKind)
  }
  return out
}

export interface FaultOptions {
  kinds: FaultKind[]
  /** Mean gap between two faults (exponential). */
  meanGapMs: number
  /** Longest a fault lasts before it is undone. */
  maxDurationMs: number
  /** Most nodes joined during one run. */
  maxJoins: number
  /** Most graceful leaves during one run. */
  maxLeaves: number
}

export const defaultFaultOptions: Omit<FaultOptions, 'kinds'> = {
  meanGapMs: 1500,
  maxDurationMs: 8000,
  maxJoins: 3,
  maxLeaves: 2,
}

export interface FaultStats {
  byKind: Map<string, number>
  /** Crashes or pauses aimed at the node that was master then. */
  masterHits: number
  permanentCrashes: number
  restartsKept: number
  restartsLost: number
}

export class FaultInjector {
  readonly stats: FaultStats = { byKind: new Map(), masterHits: 0, permanentCrashes: 0, restartsKept: 0, restartsLost: 0 }
  private active = true
  private joins = 0
  private leaves = 0
  private nextIndex: number
  /** Crashed nodes meant to stay down after the quiesce time. */
  private readonly permanent = new Set<SimNode>()
  /** Called when a crash or pause hits the master (for failover measurements). */
  onMasterHit: ((old: SimNode, kind: 'crash' | 'pause') => void) | null = null
  onFault: ((kind: FaultKind) => void) | null = null

  constructor(
    private readonly world: World,
    private readonly rng: Rng,
    private readonly opts: FaultOptions,
  ) {
    this.nextIndex = world.nodes.length + 1
  }

  /** Schedule faults in [from, until). */
  schedule(from: number, until: number): void {
    if (this.opts.kinds.length === 0) return
    let t = from + this.rng.exp(this.opts.meanGapMs)
    while (t < until) {
      const when = t
      this.world.call(when - this.world.now, () => {
        if (this.active) this.inject(until)
      })
      t += this.rng.exp(this.opts.meanGapMs)
    }
  }

  private count(kind: string): void {
    this.stats.byKind.set(kind, (this.stats.byKind.get(kind) ?? 0) + 1)
  }

  private running(): SimNode[] {
    return this.world.nodes.filter((n) => n.state === 'up')
  }

  /** Nodes not left (voters or future voters). */
  private members(): SimNode[] {
    return this.world.nodes.filter((n) => n.state !== 'left' && n.state !== 'idle')
  }

  private down(): SimNode[] {
    return this.world.nodes.filter((n) => n.state === 'crashed' || n.state === 'paused')
  }

  /** Keep a majority of members running, so the cluster can make progress when the network allows. */
  private canTakeDown(): boolean {
    const m = this.members().length
    return this.down().length + 1 <= Math.floor((m - 1) / 2)
  }

  private currentMaster(): SimNode | null {
    return this.world.mastersNow()[0] ?? null
  }

  private victim(): SimNode | null {
    const up = this.running()
    if (up.length === 0) return null
    const master = this.currentMaster()
    if (master && master.state === 'up' && this.rng.chance(0.4)) return master
    return this.rng.pick(up)
  }

  private duration(): number {
    return this.rng.range(300, this.opts.maxDurationMs)
  }

  private inject(until: number): void {
    const kind = this.rng.pick(this.opts.kinds)
    const w = this.world
    const end = (delay: number, fn: () => void) => {
      w.call(Math.min(delay, Math.max(0, until - w.now)), () => {
        if (this.active) fn()
      })
    }
    switch (kind) {
      case 'crash': {
        if (!this.canTakeDown()) return
        const v = this.victim()
        if (!v) return
        const wasMaster = this.currentMaster() === v
        w.crash(v)
        this.count(kind)
        if (wasMaster) {
          this.stats.masterHits++
          this.onMasterHit?.(v, 'crash')
        }
        if (this.rng.chance(0.2)) {
          this.permanent.add(v)
        } else {
          const kept = this.rng.chance(0.5)
          end(this.duration(), () => this.restart(v, kept))
        }
        break
      }
      case 'pause': {
        if (!this.canTakeDown()) return
        const v = this.victim()
        if (!v) return
        const wasMaster = this.currentMaster() === v
        w.pause(v)
        this.count(kind)
        if (wasMaster) {
          this.stats.masterHits++
          this.onMasterHit?.(v, 'pause')
        }
        end(this.duration(), () => w.resume(v))
        break
      }
      case 'partition': {
        const ids = this.rng.shuffle(w.nodes.filter((n) => n.state !== 'idle' && n.state !== 'left').map((n) => n.id))
        if (ids.length < 2) return
        const k = ids.length >= 5 && this.rng.chance(0.3) ? 3 : 2
        const groups: string[][] = Array.from({ length: k }, () => [])
        // Sometimes isolate exactly the master, else cut at a random point.
        const master = this.currentMaster()
        if (master && this.rng.chance(0.3)) {
          groups[0].push(master.id)
          for (const id of ids) if (id !== master.id) groups[1 + this.rng.int(k - 1)].push(id)
        } else {
          ids.forEach((id, i) => groups[i < k ? i : this.rng.int(k)].push(id))
        }
        w.heal()
        w.partition({ kind: 'groups', groups }, groups.map((g) => `[${g.sort(naturalCompare).join(' ')}]`).join(' | '))
        this.count(kind)
        end(this.duration(), () => w.heal())
        break
      }
      case 'bridge': {
        const ids = this.rng.shuffle(w.nodes.filter((n) => n.state !== 'idle' && n.state !== 'left').map((n) => n.id))
        if (ids.length < 3) return
        const master = this.currentMaster()
        // The classic non-transitive case: the bridge is often the master or the lowest id.
        let bridge: string
        const r = this.rng()
        if (master && r < 0.35) bridge = master.id
        else if (r < 0.6) bridge = lowestId(ids)!
        else bridge = this.rng.pick(ids)
        const rest = ids.filter((id) => id !== bridge)
        const cut = 1 + this.rng.int(rest.length - 1)
        const left = rest.slice(0, cut).sort(naturalCompare)
        const right = rest.slice(cut).sort(naturalCompare)
        w.heal()
        w.partition({ kind: 'bridge', left, bridge: [bridge], right }, `bridge [${left.join(' ')}] <-> ${bridge} <-> [${right.join(' ')}]`)
        this.count(kind)
        end(this.duration(), () => w.heal())
        break
      }
      case 'oneway': {
        const ids = this.rng.shuffle(w.nodes.filter((n) => n.state !== 'idle' && n.state !== 'left').map((n) => n.id))
        if (ids.length < 2) return
        const master = this.currentMaster()
        let from: string[]
        if (master && this.rng.chance(0.4)) from = [master.id]
        else from = ids.slice(0, 1 + this.rng.int(Math.max(1, Math.floor(ids.length / 2))))
        const to = ids.filter((id) => !from.includes(id))
        // Either the chosen side cannot send, or it cannot hear.
        const [a, b] = this.rng.chance(0.5) ? [from, to] : [to, from]
        w.heal()
        w.partition({ kind: 'oneway', from: a, to: b }, `oneway [${a.sort(naturalCompare).join(' ')}] -x-> [${b.sort(naturalCompare).join(' ')}]`)
        this.count(kind)
        end(this.duration(), () => w.heal())
        break
      }
      case 'loss': {
        const all = this.rng.chance(0.5)
        const up = this.running()
        const nodes = all || up.length === 0 ? null : this.rng.shuffle([...up]).slice(0, 1 + this.rng.int(Math.max(1, Math.floor(up.length / 2))))
        w.lossBurst(this.rng.range(300, 4000), this.rng.range(0.2, 0.7), nodes)
        this.count(kind)
        break
      }
      case 'join': {
        if (this.joins >= this.opts.maxJoins) return
        const seeds = this.seedsFor()
        if (seeds.length === 0) return
        this.joins++
        const n = w.addNode(this.nextIndex++)
        w.disturb(n)
        w.start(n, seeds)
        this.count(kind)
        break
      }
      case 'leave': {
        if (this.leaves >= this.opts.maxLeaves) return
        // A leave shrinks the voters; keep enough members that a majority stays reachable.
        const m = this.members().length
        if (m - 1 < 3 || this.down().length + 1 > Math.floor((m - 2) / 2)) return
        const up = this.running()
        if (up.length === 0) return
        const v = this.rng.chance(0.3) && this.currentMaster() ? this.currentMaster()! : this.rng.pick(up)
        if (v.state !== 'up') return
        this.leaves++
        w.leave(v)
        this.count(kind)
        // Half of the nodes that left come back later with the same data dir and no seeds (README's restart
        // after a leave): they must rejoin the peers they stored, never found a cluster of their own.
        if (this.rng.chance(0.5)) end(this.duration() + 500, () => w.returnAfterLeave(v))
        break
      }
      case 'sick': {
        // Issue 13's fault matrix, one sick node: it cannot hear (ingress blocked, toggled on and off), it loses 80%
        // of what it receives, or it cannot send. Its healthy peers must never declare one another dead.
        const up = this.running()
        if (up.length < 3) return
        const v = this.victim()!
        const others = w.nodes.filter((n) => n !== v && n.state !== 'idle' && n.state !== 'left').map((n) => n.id)
        const mode = this.rng.pick(['ingress-toggle', 'ingress-loss', 'egress-block'] as const)
        const duration = this.rng.range(2000, Math.max(2000, this.opts.maxDurationMs))
        w.heal()
        if (mode === 'ingress-loss') {
          w.lossBurst(duration, 0.8, [v], true)
        } else if (mode === 'egress-block') {
          w.partition({ kind: 'oneway', from: [v.id], to: others }, `sick ${v.id}: cannot send`)
          end(duration, () => w.heal())
        } else {
          const period = this.rng.range(800, 3000)
          const toggle = (on: boolean, left: number) => {
            if (!this.active) return
            if (on) w.partition({ kind: 'oneway', from: others, to: [v.id] }, `sick ${v.id}: cannot hear`)
            else w.heal()
            if (left > 0) w.call(Math.min(period, Math.max(0, until - w.now)), () => toggle(!on, left - 1))
            else if (on) w.heal()
          }
          toggle(true, Math.max(1, Math.round(duration / period)))
        }
        this.count(`${kind}:${mode}`)
        break
      }
      case 'crash-two': {
        // Two members crash at the same moment (a rack's power): both dead in every view, the rest carry on.
        const m = this.members().length
        if (this.down().length + 2 > Math.floor((m - 1) / 2)) return
        const up = this.rng.shuffle(this.running())
        if (up.length < 4) return
        const pair = up.slice(0, 2)
        for (const v of pair) w.crash(v)
        this.count(kind)
        for (const v of pair) {
          if (this.rng.chance(0.2)) this.permanent.add(v)
          else {
            const kept = this.rng.chance(0.5)
            end(this.duration(), () => this.restart(v, kept))
          }
        }
        break
      }
      case 'crash-persist': {
        // Crash between a persist and the sends of the same step (durable before visible), then restart with the
        // persisted state. The victim crashes at its next durable change (a grant, a term, a config).
        if (!this.canTakeDown()) return
        const v = this.victim()
        if (!v) return
        v.crashAtPersist = true
        this.count(kind)
        end(this.duration() + 500, () => {
          v.crashAtPersist = false
          if (v.state === 'crashed') this.restart(v, true)
        })
        break
      }
      case 'remove': {
        // An operator runs `conclave remove <id>` for a crashed member on some running node (which forwards it
        // to the master when it is not the master itself). Refusals (not dead yet, no master) are fine.
        const crashed = w.nodes.filter((n) => n.state === 'crashed')
        const up = this.running()
        if (crashed.length === 0 || up.length === 0) return
        const target = this.rng.pick(crashed)
        const at = this.rng.pick(up)
        const err = w.remove(at, target.id)
        this.count(err ? 'remove-refused' : kind)
        break
      }
    }
    this.onFault?.(kind)
  }

  /** 1 to 3 running nodes to bootstrap from (what --bootstrap would list). */
  seedsFor(exclude?: SimNode): SimNode[] {
    const up = this.world.nodes.filter((n) => n.state === 'up' && n !== exclude)
    return this.rng.shuffle([...up]).slice(0, 1 + this.rng.int(3))
  }

  private restart(n: SimNode, kept: boolean): void {
    if (n.state !== 'crashed') return
    if (kept) this.stats.restartsKept++
    else this.stats.restartsLost++
    this.world.restart(n, kept, this.seedsFor(n))
  }

  /** The voters of the latest voter config any live node holds. */
  private latestVoters(): Set<string> {
    let best: { version: number; voters: string[] } | null = null
    for (const n of this.world.nodes) {
      if (n.state !== 'up' || !n.core) continue
      const c = n.core.status(this.world.local(n)).config
      if (c && (!best || c.version > best.version)) best = c
    }
    return new Set(best?.voters ?? [])
  }

  /**
   * Faults stop: heal the network, end loss bursts, resume paused nodes, restart crashed ones except the
   * permanent crashes, of which at most a minority of the members (minus one) stays down.
   */
  quiesce(): void {
    this.active = false
    const w = this.world
    w.heal()
    w.net.endBursts()
    for (const n of w.nodes) if (n.state === 'paused') w.resume(n)
    const members = this.members().length
    const maxDown = Math.max(0, Math.floor((members - 1) / 2) - 1)
    // Voters are capped, so the same bound applies to the voter config: a cluster that lost the majority of its
    // voters for good needs the operator (`conclave recover`); that is not what this check is about.
    const voters = this.latestVoters()
    // A voter that left with no fault near it said goodbye to everyone, and the cores count the voters without it;
    // one that left while faults cut it off may have told no one, and counts as a voter down for good, as a
    // permanent crash does (seed 267, 9 nodes: a voter's leave inside a partition plus one permanent crash of a
    // voter left 2 of the 4 counted, and no master could be elected).
    let votersKept = 0
    for (const n of w.nodes) {
      if (n.state !== 'left' || !voters.has(n.id)) continue
      if (n.leftClean) voters.delete(n.id)
      else votersKept++
    }
    const maxVotersDown = Math.max(0, Math.floor((voters.size - 1) / 2) - 1)
    let kept = 0
    for (const n of w.nodes) {
      if (n.state !== 'crashed') continue
      const voter = voters.has(n.id)
      if (this.permanent.has(n) && kept < maxDown && (!voter || votersKept < maxVotersDown)) {
        kept++
        if (voter) votersKept++
        this.stats.permanentCrashes++
        continue
      }
      this.restart(n, this.rng.chance(0.5))
    }
  }
}
