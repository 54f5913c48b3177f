// Twins: two processes that hold the same node key (a copied data dir). A duplicate id on two keys is caught by the
// member table's merge rules (the later joiner stops); a twin has the same id *and* the same key, so everything
// it signs is valid and the cluster alone cannot tell the two apart. What tells them apart is a per-process boot
// nonce in the node's own signed claim (MemberUpdate.boot), and the incarnation.
//
//   W1  Every process draws a boot nonce at start: its wall-clock start time (base 36), a dot, and a random part.
//       It is part of the node's signed self-claim (trust.ts claimBytes), so only a holder of the key can set it.
//   W2  A node that restarts with stored state claims incarnation stored + 1 (persisted before the claim leaves,
//       node.ts finish). So every claim a previous run of this key made has an incarnation below the first one of
//       the new run; a node whose key was created by this very process (`newKey`) has had no previous run at all.
//   W3  So a claim about this node, under its own key, with another boot nonce, at an incarnation at or above the
//       one this process started with, was made by another live process holding the key: a twin. The node that
//       sees it stops with a fatal id-conflict that names the twin's addresses (the agent exits 2 and names its
//       data dir). It is the one that sees it, not the one that started later, that stops: two processes with one
//       peer id cannot talk to each other, and the others' streams to that peer id reach only one of them, so the
//       other may never hear a word (in the agent test the copy heard nothing). Once one has stopped, the others
//       redial the peer id and reach the survivor, which holds the same key and state.
//   W4  A node that started without stored state on a key it did not create (its state file was moved aside: the
//       documented recovery) cannot tell a twin from its own previous run, whose claims may have any incarnation:
//       it refutes as SWIM does, and twin detection starts at its next restart (docs/security.md).
//   W5  ...but only once its stored incarnation is a bound again: it persists `historyUnknown` until it has merged a
//       full sync reply (a live member's record of it, its previous runs' claims included) and claims an incarnation
//       at or above every claim about itself from another boot that it has heard. A W4 run that crashes before
//       that restarts under W4 again.
//       Without W5 the stored incarnation of a W4 run that crashed at once (simulator seed 452: a lost-state restart
//       that crashed in its first step) was 0, the next run claimed 1, heard its own earlier run's claim at 1, and
//       stopped as its own twin: the cluster's lowest id stayed dead for good.

import type { Ctx } from './context.ts'
import type { MemberUpdate } from './types.ts'

/** W1: a boot nonce from the wall-clock start and a random part (the agent: crypto random; the simulator: its clock). */
export function bootNonce(wallClockMs: number, random: string): string {
  return `${Math.max(0, Math.floor(wallClockMs)).toString(36)}.${random}`
}

/** none: no twin (or none this node can tell); stop: a twin holds our key, and this node stops (W3). */
export type TwinVerdict = 'none' | 'stop'

export class TwinGuard {
  private stopped = false
  /** W3: the incarnation this process started with; null while it cannot tell a twin from a previous run (W4). */
  private firstIncarnation: number | null
  /** W5: the highest incarnation heard in a claim about this node under its key from another boot (an earlier run),
   *  and whether a sync reply came. */
  private maxHeard = -1
  private synced = false

  constructor(
    private readonly ctx: Ctx,
    readonly boot: string,
    /** W4: whether every previous run's claim is known to lie below this process's own (stored state, or a new key). */
    knowsHistory: boolean,
  ) {
    ctx.self.boot = boot
    this.firstIncarnation = knowsHistory ? ctx.self.incarnation : null
  }

  /** W2: a restarted node claims one incarnation above every claim of its previous runs (W5: if it knew them). */
  restarted(storedIncarnation: number, historyKnown: boolean): void {
    this.ctx.self.incarnation = storedIncarnation + 1
    this.firstIncarnation = historyKnown ? this.ctx.self.incarnation : null
  }

  /** W5: a full sync reply was merged. */
  syncReplied(): void {
    this.synced = true
  }

  /** W5: the stored incarnation bounds every earlier claim about this node (else the state says historyUnknown). */
  historyKnown(): boolean {
    // At or above: the next run claims one more (W2), above every earlier run's claim heard.
    return this.firstIncarnation !== null || (this.synced && this.ctx.self.incarnation >= this.maxHeard)
  }

  /** W3, for an update about this node under its own key (Membership.mergeAboutSelf). */
  judge(u: MemberUpdate): TwinVerdict {
    if (u.boot !== this.boot && u.incarnation > this.maxHeard) this.maxHeard = u.incarnation
    if (this.firstIncarnation === null || u.boot === undefined || u.boot === this.boot || u.incarnation < this.firstIncarnation) return 'none'
    if (!this.stopped) {
      this.stopped = true
      const self = this.ctx.self
      this.ctx.emit({ type: 'id-conflict', id: self.id, peer: self.peer, fatal: true, twin: { incarnation: u.incarnation, addrs: [...u.addrs], boot: u.boot } })
    }
    return 'stop'
  }
}
