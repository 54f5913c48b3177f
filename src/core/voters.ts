// The voter configuration: who votes, how it is born, how it changes (Consul's autopilot, done by the master).
//
//   V1  At most `voters` members vote; the rest are members without a vote, so the master's lease traffic is
//       O(voters), not O(members).
//   V2  A master changes the config one voter at a time (add or remove), and only once a majority of the
//       current config acknowledged it: any majority of C and any majority of C +- 1 voter share a voter, so
//       two masters under neighbouring configs still need a common voter, which grants one lease at a time.
//   V3  Configs are totally ordered (compareConfigs); a node adopts a config only if it is later than its own.

import { compareIds } from './order.ts'
import type { Member, VoterConfig } from './types.ts'

export function needed(voters: number): number {
  return Math.floor(voters / 2) + 1
}

/** Total order on configs: later version, then higher term, then the voter list as a tie-break. */
export function compareConfigs(a: VoterConfig, b: VoterConfig): number {
  if (a.version !== b.version) return a.version - b.version
  if (a.term !== b.term) return a.term - b.term
  const x = a.voters.join(',')
  const y = b.voters.join(',')
  return x === y ? 0 : x < y ? 1 : -1
}

/** The first config of a new cluster: the lowest `cap` ids among the live members that bootstrapped together. */
export function bootstrapVoters(liveIds: string[], cap: number): string[] {
  return [...liveIds].sort(compareIds).slice(0, Math.max(1, cap))
}

export interface ChangeInput {
  config: VoterConfig
  members: Map<string, Member>
  selfId: string
  cap: number
  now: number
  stabilityWindowMs: number
  voterDeadAfterMs: number
  /** Members known to be in this node's lineage (only they can be made voters). */
  sameLineage: (id: string) => boolean
  /** Operator removals still to carry out. */
  pendingRemovals: Set<string>
}

export interface Change {
  voters: string[]
  why: string
}

/**
 * The next single-voter change the master should make, or null. In order: an operator's removal; a voter that
 * left; a voter dead for voterDeadAfterMs; then, while below the cap, the lowest-id live non-voter that has been
 * alive for the stability window (a member heard of once and lost again would cost the quorum availability).
 * Removal before replacement keeps every step a single-voter change (V2); the replacement follows one round later.
 */
export function nextChange(i: ChangeInput): Change | null {
  const voters = i.config.voters
  for (const id of i.pendingRemovals) {
    if (voters.includes(id) && id !== i.selfId) return { voters: voters.filter((v) => v !== id), why: `${id} removed by the operator` }
  }
  const left = voters.find((v) => v !== i.selfId && i.members.get(v)?.state === 'left')
  if (left) return { voters: voters.filter((v) => v !== left), why: `${left} left` }
  const dead = voters.find((v) => {
    const m = i.members.get(v)
    return v !== i.selfId && m !== undefined && m.state === 'dead' && i.now - m.since >= i.voterDeadAfterMs
  })
  if (dead) return { voters: voters.filter((v) => v !== dead), why: `${dead} dead for ${Math.round(i.voterDeadAfterMs / 1000)} s` }
  if (voters.length < i.cap) {
    const joiner = [...i.members.values()]
      .filter((m) => m.state === 'alive' && !voters.includes(m.id) && i.now - m.aliveSince >= i.stabilityWindowMs && i.sameLineage(m.id))
      .sort((a, b) => compareIds(a.id, b.id))[0]
    if (joiner) return { voters: [...voters, joiner.id], why: `${joiner.id} joined the voters` }
  }
  return null
}
