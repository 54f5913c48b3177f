// Network model of the simulator: per-message delay, loss, duplication, and partitions.
// Reordering is not a separate knob: it falls out of independent random delays per copy.
import type { Rng } from './rng.ts'

export interface NetworkConfig {
  /** Fixed part of every one-way delay (ms). */
  delayBaseMs: number
  /** Mean of the exponential tail added to the base (ms). */
  delayMeanMs: number
  /** Probability that a copy is held up by a long stall (a retransmission, a GC pause on the path). */
  spikeProb: number
  /** Upper bound of a stall (uniform in [0, spikeMaxMs]). */
  spikeMaxMs: number
  /** Base loss probability of every copy. */
  loss: number
  /** Probability that a copy is delivered twice (each copy with its own delay). */
  duplicate: number
}

export const defaultNetwork: NetworkConfig = {
  delayBaseMs: 0.3,
  delayMeanMs: 1.5,
  spikeProb: 0.01,
  spikeMaxMs: 80,
  loss: 0,
  duplicate: 0.01,
}

/** A partition rule. Several may be active at once; a direction is blocked when any rule blocks it. */
export type PartitionRule =
  /** Nodes in different groups cannot talk in either direction. Nodes named in no group are unaffected. */
  | { kind: 'groups'; groups: string[][] }
  /** Non-transitive: `left` and `right` cannot talk to each other, `bridge` talks to both. */
  | { kind: 'bridge'; left: string[]; bridge: string[]; right: string[] }
  /** Messages from `from` to `to` are dropped; the reverse direction still works. */
  | { kind: 'oneway'; from: string[]; to: string[] }

/**
 * A window of extra loss; `nodes` null means every link, else links with either end in the set, or with `inbound`
 * only the links into the set (a NIC that drops what it receives: the sick node of issue 13's fault matrix).
 */
export interface LossBurst {
  id: number
  start: number
  until: number
  loss: number
  nodes: Set<string> | null
  inbound: boolean
}

/** Does the burst touch the direction from -> to? */
export function burstTouches(b: LossBurst, from: string, to: string): boolean {
  if (b.nodes === null) return true
  return b.inbound ? b.nodes.has(to) : b.nodes.has(from) || b.nodes.has(to)
}

interface CompiledRule {
  rule: PartitionRule
  blocks(from: string, to: string): boolean
}

function compile(rule: PartitionRule): CompiledRule {
  switch (rule.kind) {
    case 'groups': {
      const groupOf = new Map<string, number>()
      rule.groups.forEach((g, i) => {
        for (const id of g) {
          if (groupOf.has(id)) throw new Error(`partition: ${id} is in two groups`)
          groupOf.set(id, i)
        }
      })
      return {
        rule,
        blocks: (from, to) => {
          const a = groupOf.get(from)
          const b = groupOf.get(to)
          return a !== undefined && b !== undefined && a !== b
        },
      }
    }
    case 'bridge': {
      const left = new Set(rule.left)
      const right = new Set(rule.right)
      for (const id of rule.bridge) {
        if (left.has(id) || right.has(id)) throw new Error(`bridge: ${id} is both a bridge and a side`)
      }
      for (const id of left) if (right.has(id)) throw new Error(`bridge: ${id} is on both sides`)
      return {
        rule,
        blocks: (from, to) => (left.has(from) && right.has(to)) || (right.has(from) && left.has(to)),
      }
    }
    case 'oneway': {
      const from = new Set(rule.from)
      const to = new Set(rule.to)
      return { rule, blocks: (f, t) => from.has(f) && to.has(t) }
    }
  }
}

export class Network {
  private rules: CompiledRule[] = []
  private bursts: LossBurst[] = []
  private nextBurstId = 1

  constructor(
    public config: NetworkConfig,
    private readonly rng: Rng,
  ) {
    if (config.loss < 0 || config.loss > 1) throw new Error(`network: loss must be in [0, 1], got ${config.loss}`)
    if (config.duplicate < 0 || config.duplicate > 1) throw new Error(`network: duplicate must be in [0, 1], got ${config.duplicate}`)
    if (config.delayBaseMs < 0 || config.delayMeanMs < 0) throw new Error('network: delays must be >= 0')
  }

  /** Add a partition rule (on top of those active). */
  partition(rule: PartitionRule): void {
    this.rules.push(compile(rule))
  }

  /** Remove every partition rule. */
  heal(): void {
    this.rules = []
  }

  activeRules(): PartitionRule[] {
    return this.rules.map((r) => r.rule)
  }

  addBurst(start: number, until: number, loss: number, nodes: string[] | null, inbound = false): LossBurst {
    const burst = { id: this.nextBurstId++, start, until, loss, nodes: nodes ? new Set(nodes) : null, inbound }
    this.bursts.push(burst)
    return burst
  }

  endBursts(): void {
    this.bursts = []
  }

  /** Is the direction from -> to cut by a partition? */
  blocked(from: string, to: string): boolean {
    for (const r of this.rules) if (r.blocks(from, to)) return true
    return false
  }

  /** The active rules as one predicate, kept by the world's topology history (compiled rules never change). */
  snapshot(): (from: string, to: string) => boolean {
    const rules = [...this.rules]
    return (from, to) => rules.some((r) => r.blocks(from, to))
  }

  /** Loss probability of a copy on from -> to at time `now` (base loss or the strongest active burst). */
  lossAt(from: string, to: string, now: number): number {
    let p = this.config.loss
    if (this.bursts.length > 0) {
      this.bursts = this.bursts.filter((b) => b.until > now)
      for (const b of this.bursts) if (burstTouches(b, from, to)) p = Math.max(p, b.loss)
    }
    return p
  }

  /** Is `id` touched by a loss burst at `now`? */
  inBurst(id: string, now: number): boolean {
    return this.bursts.some((b) => b.until > now && (b.nodes === null || b.nodes.has(id)))
  }

  delay(): number {
    const c = this.config
    let d = c.delayBaseMs + this.rng.exp(c.delayMeanMs)
    if (this.rng.chance(c.spikeProb)) d += this.rng() * c.spikeMaxMs
    return d
  }

  /**
   * Plan the copies of one message: returns the delays of the copies that arrive (empty: lost or blocked).
   * Draws from the rng in a fixed order, so plans are deterministic.
   */
  plan(from: string, to: string, now: number): number[] {
    if (this.blocked(from, to)) return []
    const loss = this.lossAt(from, to, now)
    const out: number[] = []
    if (!this.rng.chance(loss)) out.push(this.delay())
    if (this.rng.chance(this.config.duplicate) && !this.rng.chance(loss)) out.push(this.delay())
    return out
  }
}
