// One cluster, one lineage. Majority leases only protect nodes that share a voter config, so the config has an
// identity: the cluster id, born when a cluster bootstraps, stored with the voters and the terms.
//
//   C1  A node with stored state never bootstraps: it rejoins its cluster (it dials the peers it stored).
//   C2  A node without state bootstraps only after the discovery window (or once `expect` members were seen),
//       only if no member it sees already belongs to a cluster, and only if it is the lowest live id it sees;
//       everyone else waits for a config to reach it. Agents that start together thus get one initial config.
//   C3  When two lineages meet, `survives` decides deterministically which one lives on: the older one. A cluster
//       id starts with its birth time (the founder's wall clock, fixed width), so ids order by age and the order
//       never changes: every node, at any time, picks the same survivor, and an established cluster is never
//       absorbed by one born later (a node whose data dir was wiped and that founded a cluster alone, say). An order
//       that looked at anything that changes (voter counts) let two sides each defect to the other (sim seed 3099,
//       a sync storm). A node of the other lineage defects: its master steps down first (its masterOnly work is
//       fenced), then it adopts the survivor's id and config as a non-voter. Its voter grant stays binding until
//       it expires (L1), and its terms travel with it, so the survivor's master moves to a term above every term
//       either side used (election.ts: a master that hears of a higher term steps down and campaigns above it).

import type { Ctx } from './context.ts'
import { compareIds } from './order.ts'
import { compareConfigs } from './voters.ts'
import type { VoterConfig } from './types.ts'

/** Lineages remembered as merged into this one (bounded: a merge is rare; the oldest are forgotten). */
const MAX_RETIRED = 16

export interface LineageView {
  cluster: string | null
  retired: string[]
  config: VoterConfig | null
}

/** True when lineage `a` survives a meeting with lineage `b` (C3: the older; ids order by birth time). */
export function survives(a: LineageView, b: LineageView): boolean {
  if (a.cluster === null) return false
  if (b.cluster === null) return true
  return a.cluster < b.cluster
}

export class Lineage {
  cluster: string | null
  retired: string[]
  config: VoterConfig | null
  /** The lineage each member last told us it is in (pings, acks, state exchanges, lease messages). */
  private readonly clusterOf = new Map<string, string | null>()

  constructor(
    private readonly ctx: Ctx,
    stored?: { clusterId: string | null; retired: string[]; config: VoterConfig | null },
  ) {
    this.cluster = stored?.clusterId ?? null
    this.retired = [...(stored?.retired ?? [])]
    this.config = stored?.config ? { ...stored.config, voters: [...stored.config.voters] } : null
  }

  view(): LineageView {
    return { cluster: this.cluster, retired: this.retired, config: this.config }
  }

  heard(id: string, cluster: string | null | undefined): void {
    if (cluster !== undefined) this.clusterOf.set(id, cluster)
  }

  /** The lineage member `id` last told us it is in (undefined: never heard; null: in none yet). */
  clusterOfMember(id: string): string | null | undefined {
    return this.clusterOf.get(id)
  }

  sameLineage(id: string): boolean {
    if (id === this.ctx.self.id) return this.cluster !== null
    return this.cluster !== null && this.clusterOf.get(id) === this.cluster
  }

  /** Some member we know is in a cluster already (so a node without state must not bootstrap another). */
  someoneBorn(): boolean {
    for (const [id, c] of this.clusterOf) if (c !== null && this.ctx.isLive(this.ctx.members.get(id))) return true
    return false
  }

  /** Adopt a later config of our own lineage (V3). Returns true when it changed. */
  adoptConfig(c: VoterConfig): boolean {
    if (this.config && compareConfigs(c, this.config) <= 0) return false
    // The writer and its signature stay with the config (trust.ts R7: it is relayed with them).
    this.config = { ...c, voters: [...c.voters].sort(compareIds) }
    return true
  }

  /** Become a member of lineage `other` (joining from none, or defecting after losing a merge). */
  join(other: LineageView): void {
    const old = this.cluster
    this.cluster = other.cluster
    const retired = new Set([...other.retired, ...this.retired])
    if (old !== null && old !== other.cluster) retired.add(old)
    retired.delete(other.cluster ?? '')
    this.retired = [...retired].slice(-MAX_RETIRED)
    this.config = other.config ? { ...other.config, voters: [...other.config.voters].sort(compareIds) } : null
  }

  /** Learn lineages merged into ours from a member of ours. */
  learnRetired(ids: string[] | undefined): boolean {
    let changed = false
    for (const id of ids ?? []) {
      if (id !== this.cluster && !this.retired.includes(id)) {
        this.retired.push(id)
        changed = true
      }
    }
    if (this.retired.length > MAX_RETIRED) this.retired = this.retired.slice(-MAX_RETIRED)
    return changed
  }
}

/**
 * A new cluster id: the birth time (ms since the epoch on the founder's clock, 12 hex digits: fixed width, so ids
 * order by age as strings) and 32 random bits from the core's injected randomness. Clock skew between hosts only
 * matters for clusters born within the skew of each other, and even then the order stays total and fixed.
 */
export function newClusterId(wallMs: number, rng: () => number): string {
  let s = Math.max(0, Math.floor(wallMs)).toString(16).padStart(12, '0')
  for (let i = 0; i < 2; i++) s += Math.floor(rng() * 0x10000).toString(16).padStart(4, '0')
  return s
}
