// A hostile member for the simulator: a node that holds the cluster key and runs an honest core (so it is a
// member like any other), and that also sends well-formed forged messages (through the real codec) that speak
// for others, accuse them at impossible incarnations, push terms to the sky and stuff the voter config. The
// run's invariants must hold for every node, and the honest ones must converge as without it.
import type { MemberUpdate, Message } from '../core/types.ts'
import type { Rng } from './rng.ts'
import type { SimNode, World } from './world.ts'

/** Forged messages per virtual second while the hostile member runs. */
export const HOSTILE_RATE = 20

type Forgery = (ctx: { world: World; self: SimNode; target: SimNode; rng: Rng }) => Message | null

const HUGE = Number.MAX_SAFE_INTEGER

function view(world: World, n: SimNode) {
  return n.core!.status(world.local(n))
}

function updateAbout(world: World, observer: SimNode, id: string): MemberUpdate | null {
  const m = view(world, observer).members.find((x) => x.id === id)
  if (!m) return null
  const u: MemberUpdate = { id: m.id, peer: m.peer, addrs: [...m.addrs], incarnation: m.incarnation, state: m.state }
  if (m.tags) u.tags = { ...m.tags }
  return u
}

/** Every kind of forgery; each names the rule of core/trust.ts (or of the election) that must stop it. */
export const forgeries: Record<string, Forgery> = {
  // R1: speak for the master: release its leases, remove a member, make it leave.
  'release-as-master': ({ world, target }) => {
    const m = view(world, target).master
    return m ? { t: 'lease-release', from: m.id, term: m.term } : null
  },
  'remove-as-master': ({ world, target, rng }) => {
    const s = view(world, target)
    const victim = rng.pick(s.members).id
    return s.master ? { t: 'remove', from: s.master.id, id: victim } : null
  },
  'leave-as-other': ({ world, target, rng, self }) => {
    const s = view(world, target)
    const others = s.members.filter((m) => m.id !== self.id && m.id !== target.id && m.state === 'alive')
    if (others.length === 0) return null
    const v = rng.pick(others)
    return { t: 'leave', from: v.id, incarnation: v.incarnation + 1 }
  },
  // R1: grant a lease as a voter (to the hostile member's own campaign).
  'grant-as-voter': ({ world, target, self }) => {
    const s = view(world, target)
    const voter = s.config?.voters.find((v) => v !== self.id && v !== target.id)
    if (!voter || !s.clusterId) return null
    return { t: 'lease-ack', from: voter, seq: 1, cluster: s.clusterId, term: s.maxTerm + 1, granted: true, durationMs: 60_000, maxTerm: s.maxTerm + 1, configVersion: s.config!.version }
  },
  // R2: a role message from an id nobody knows.
  'grant-as-ghost': ({ world, target }) => {
    const s = view(world, target)
    return s.clusterId ? { t: 'lease-ack', from: 'ghost', seq: 1, cluster: s.clusterId, term: s.maxTerm + 1, granted: true, durationMs: 60_000, maxTerm: s.maxTerm, configVersion: 1 } : null
  },
  // R3/R4: declare a member dead far above its incarnation (it could never refute), unsigned.
  'evict-unsigned': ({ world, target, self, rng }) => {
    const others = view(world, target).members.filter((m) => m.id !== self.id)
    const u = updateAbout(world, target, rng.pick(others).id)
    return u ? { t: 'updates', from: self.id, updates: [{ ...u, incarnation: HUGE - 1, state: 'dead', by: self.id }] } : null
  },
  // R3: the same with a made-up signature, and a suspicion of the target itself above its incarnation.
  'evict-bad-signature': ({ world, target, self, rng }) => {
    const others = view(world, target).members.filter((m) => m.id !== self.id)
    const u = updateAbout(world, target, rng.pick(others).id)
    return u ? { t: 'ping', seq: 1, from: self.id, gossip: [{ ...u, incarnation: u.incarnation + 5, state: 'dead', by: self.id, sig: new Uint8Array(64).fill(9) } as MemberUpdate] } : null
  },
  'suspect-target': ({ world, target, self }) => {
    const u = updateAbout(world, target, target.id)
    return u ? { t: 'updates', from: self.id, updates: [{ ...u, incarnation: u.incarnation + 1000, state: 'suspect', by: self.id }] } : null
  },
  // R5: pin terms at the top (sync), and claim a master far above every term.
  'term-to-the-sky': ({ world, target, self }) => {
    const s = view(world, target)
    return { t: 'sync', from: self.id, reply: true, members: [], cluster: s.clusterId, config: null, maxTerm: HUGE }
  },
  'master-claim-far-above': ({ world, target, self }) => {
    const s = view(world, target)
    return s.clusterId ? { t: 'ping', seq: 2, from: self.id, gossip: [], cluster: s.clusterId, master: { id: self.id, term: s.maxTerm + 1_000_000, ms: 60_000 } } : null
  },
  // R7: name another member master just above the cluster's term (unsigned: only the master can sign its claim).
  'claim-other-master': ({ world, target, self }) => {
    const s = view(world, target)
    const other = s.members.find((m) => m.id !== self.id && m.id !== s.master?.id && m.state === 'alive')
    return s.clusterId && other ? { t: 'ping', seq: 3, from: self.id, gossip: [], cluster: s.clusterId, master: { id: other.id, term: s.maxTerm + 1, ms: 1_000 } } : null
  },
  // R7: a next config of real members in the master's name (not signed by it).
  'config-as-master': ({ world, target, self }) => {
    const s = view(world, target)
    if (!s.config || !s.master) return null
    const voters = s.members.filter((m) => m.state === 'alive').map((m) => m.id).slice(0, 2)
    return { t: 'sync', from: self.id, reply: true, members: [], cluster: s.clusterId, config: { version: s.config.version + 1, term: s.maxTerm, voters, by: s.master.id }, maxTerm: s.maxTerm }
  },
  // R6: stuff the voter config with fake voters.
  'stuff-voters': ({ world, target, self }) => {
    const s = view(world, target)
    if (!s.config) return null
    return { t: 'sync', from: self.id, reply: true, members: [], cluster: s.clusterId, config: { version: s.config.version + 1, term: s.maxTerm, voters: Array.from({ length: 12 }, (_, i) => `fake-${i}`) }, maxTerm: s.maxTerm }
  },
}

/**
 * Forgeries the core does not stop yet (docs/security.md, "can still"): run only by the test that documents the gap.
 * A lineage merge is not authenticated, so a claim that the cluster was merged into a lineage the hostile member
 * invents, with itself as the only voter, makes honest nodes defect into it.
 */
export const openGapForgeries: Record<string, Forgery> = {
  'forge-merge': ({ world, target, self }) => {
    const s = view(world, target)
    if (!s.clusterId) return null
    return { t: 'sync', from: self.id, reply: true, members: [], cluster: `forged-${self.id}`, retired: [s.clusterId], config: { version: 1, term: s.maxTerm, voters: [self.id] }, maxTerm: s.maxTerm }
  },
}

/** Drive one hostile member from `from` to `until` (virtual ms): one forgery to a random honest node at a time. */
export function runHostile(world: World, self: SimNode, rng: Rng, from: number, until: number, set: Record<string, Forgery> = forgeries): void {
  const kinds = Object.keys(set)
  const every = 1000 / HOSTILE_RATE
  for (let t = from; t < until; t += every) {
    world.call(t - world.now, () => {
      if (!world.isRunning(self) || !self.core) return
      const honest = world.nodes.filter((n) => n !== self && n.core && world.isRunning(n))
      if (honest.length === 0) return
      const target = rng.pick(honest)
      const kind = rng.pick(kinds)
      const msg = set[kind]({ world, self, target, rng })
      if (msg) world.forge(self, target, msg, kind)
    })
  }
}
