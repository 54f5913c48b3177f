// Placeholder: the protocol core is being written; the public surface below is final.
import type { CoreConfig, CoreStatus, Effect, Member, Message, Observation, PeerKey, MasterView } from './types.ts'

export interface Seed { peer: PeerKey; addrs: string[] }

export class ClusterCore {
  constructor(readonly config: CoreConfig, private readonly rng: () => number, now: number) { void now }
  start(seeds: Seed[], now: number): Effect[] { void seeds; void now; throw new Error('not yet') }
  tick(now: number): Effect[] { void now; throw new Error('not yet') }
  receive(fromPeer: PeerKey, msg: Message, now: number): Effect[] { void fromPeer; void msg; void now; throw new Error('not yet') }
  observe(obs: Observation, now: number): Effect[] { void obs; void now; throw new Error('not yet') }
  leave(now: number): Effect[] { void now; throw new Error('not yet') }
  remove(id: string, now: number): { ok: true; effects: Effect[] } | { ok: false; error: string } { void id; void now; throw new Error('not yet') }
  status(now: number): CoreStatus { void now; throw new Error('not yet') }
  isMaster(now: number): boolean { void now; throw new Error('not yet') }
  master(now: number): MasterView | null { void now; throw new Error('not yet') }
  member(id: string): Member | undefined { void id; throw new Error('not yet') }
  memberByPeer(peer: PeerKey): Member | undefined { void peer; throw new Error('not yet') }
}
