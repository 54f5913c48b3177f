// quorum=none: availability over safety. The lowest live id in each node's own view is master, in every partition,
// with no voters and no leases. Terms still fence: every mastership takes a term above every term this node heard,
// and a master that merges with a side that elected under higher terms continues under a new, higher term.

import type { Ctx } from './context.ts'
import { ElectionBase, type ElectionHooks, type RemoveResult } from './election.ts'
import type { Membership, SyncMessage } from './membership.ts'
import type { Message, PeerKey, QuorumView, Role, StoredState } from './types.ts'

export class NoQuorumElection extends ElectionBase {
  private term = 0
  private nextAnnounceAt: number

  constructor(ctx: Ctx, membership: Membership, hooks: ElectionHooks, stored: StoredState | undefined, now: number) {
    super(ctx, membership, hooks, stored)
    this.nextAnnounceAt = now
  }

  protected ready(): boolean {
    const cfg = this.ctx.config
    return cfg.expect > 1 ? this.membership.seen.size >= cfg.expect : true
  }

  protected masterTerm(): number {
    return this.term
  }

  protected protectedHolder(now: number): string | undefined {
    if (this.wasMaster) return this.ctx.self.id
    return this.claimValid(now)?.id
  }

  /** The role starts at a tick, which also picks its term: between ticks report what was decided. */
  isMaster(now: number): boolean {
    return !this.left && this.ready() && this.wasMaster && this.candidate(now) === this.ctx.self.id
  }

  role(now: number): Role {
    return this.isMaster(now) ? 'master' : 'member'
  }

  quorumView(): QuorumView {
    const visible = this.ctx.liveOthers().length + 1
    return { has: true, visible, voting: visible, needed: 1 }
  }

  override nextDeadline(now: number): number {
    const at = super.nextDeadline(now)
    return this.wasMaster && !this.left ? Math.min(at, this.nextAnnounceAt) : at
  }

  tick(now: number, periodic: boolean): void {
    if (this.left) return
    this.steppedAt = now
    const cand = this.ready() && this.candidate(now) === this.ctx.self.id
    if (cand && !this.wasMaster) {
      this.term = this.terms.next()
      this.terms.observe(this.term)
      this.wasMaster = true
      this.maxClaimTerm = Math.max(this.maxClaimTerm, this.term)
      this.ctx.emit({ type: 'became-master', term: this.term })
    } else if (!cand && this.wasMaster) {
      this.stepDown(now, 'a lower id is live')
    }
    if (this.wasMaster && this.terms.maxTerm > this.term) {
      // Merged with a side that elected under higher terms: continue under a new, higher term so the
      // fencing token never goes back for anyone.
      this.term = this.terms.next()
      this.terms.observe(this.term)
      this.maxClaimTerm = Math.max(this.maxClaimTerm, this.term)
    }
    if (periodic && this.wasMaster && this.nextAnnounceAt <= now) {
      this.nextAnnounceAt = now + this.ctx.config.leaseRenewMs
      for (const m of this.ctx.liveOthers()) {
        this.ctx.send(m.peer, { t: 'lease-req', from: this.ctx.self.id, seq: this.ctx.nextSeq(), cluster: '', term: this.term, master: true, configVersion: 0 }, m.addrs)
      }
    }
    this.report(now)
  }

  onLeaseRequest(fromPeer: PeerKey, msg: Extract<Message, { t: 'lease-req' }>, now: number): void {
    const sender = this.ctx.members.get(msg.from)
    if (!sender || sender.peer !== fromPeer) return
    if (msg.master) this.hearClaim(msg.from, msg.term, this.ctx.config.leaseDurationMs, now)
  }

  onLeaseAck(): void {}

  onRelease(msg: Extract<Message, { t: 'lease-release' }>): void {
    if (this.claim && this.claim.id === msg.from) this.claim = null
  }

  onSync(_fromPeer: PeerKey, msg: SyncMessage): void {
    this.terms.observe(msg.maxTerm)
  }

  override onRelayedClaim(): void {
    // Announcements go to every member directly under quorum=none; relayed claims are not needed.
  }

  stepDown(_now: number, reason: string): void {
    if (!this.wasMaster) return
    this.wasMaster = false
    this.ctx.emit({ type: 'stepped-down', term: this.term, reason })
  }

  remove(id: string): RemoveResult {
    const m = this.ctx.members.get(id)
    if (id === this.ctx.self.id) return { ok: false, error: 'a node cannot remove itself; use leave' }
    if (!m) return { ok: false, error: `unknown member "${id}"` }
    if (this.ctx.isLive(m)) return { ok: false, error: `member "${id}" is ${m.state}; only dead or left members can be removed` }
    this.membership.drop(id)
    return { ok: true }
  }

  recover(): RemoveResult {
    return { ok: false, error: 'quorum=none has no voters to recover' }
  }
}
