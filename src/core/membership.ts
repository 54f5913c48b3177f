// The member table and its dissemination: SWIM's gossip merge rules (incarnations, refutation), piggybacked and
// broadcast updates, full-state exchange (paged below the message limit), suspicion verdicts and reaping.

import type { Ctx } from './context.ts'
import { GossipQueue, rank } from './gossip-queue.ts'
import type { LocalHealth } from './health.ts'
import type { Prober } from './probes.ts'
import type { Suspicions } from './suspicion.ts'
import type { TwinVerdict } from './twin.ts'
import type { Member, MemberState, MemberUpdate, Message, PeerKey } from './types.ts'

/**
 * Members per page of a state exchange. A member entry is 100-400 bytes encoded (id, peer id, a few addresses,
 * tags), so 128 of them stay well below the 64 KiB message limit (measured in test/core/codec.test.ts).
 */
export const SYNC_PAGE_MEMBERS = 128

export type SyncMessage = Extract<Message, { t: 'sync' }>
/** The lineage and election fields of a state exchange (owned by lineage.ts and terms.ts). */
export type SyncHeader = Pick<SyncMessage, 'cluster' | 'retired' | 'config' | 'maxTerm'>

export interface MembershipHooks {
  header(): SyncHeader
  /** A state exchange arrived (after its members were merged). */
  synced(fromPeer: PeerKey, msg: SyncMessage, now: number): void
  /** The table changed in a way the stored peer list should follow. */
  peersChanged(): void
  /** Trust rule R3 (trust.ts): whether an update is backed by its subject's own claim; absent: always. */
  mayMerge?(u: MemberUpdate): boolean
  /** Twin rule W3 (twin.ts): a claim about this node under its own key made by another process; absent: none. */
  twin?(u: MemberUpdate): TwinVerdict
}

export class Membership {
  private readonly gossip = new GossipQueue()
  private readonly conflictsReported = new Set<string>()
  private readonly nudged = new Map<string, number>()
  /** Updates this node learned first-hand or by state exchange: broadcast at the end of the step. */
  broadcastBatch: MemberUpdate[] = []
  /** Every id ever in the member list (any state): what `expect` counts. */
  readonly seen = new Set<string>()
  /** Set once this node's id is known not to belong to an earlier live holder (see mergeAboutSelf). */
  established = false

  constructor(
    private readonly ctx: Ctx,
    private readonly health: LocalHealth,
    private readonly suspicions: Suspicions,
    private readonly prober: Prober,
    private readonly hooks: MembershipHooks,
  ) {
    this.seen.add(ctx.self.id)
  }

  updateOf(m: Member): MemberUpdate {
    const u: MemberUpdate = { id: m.id, peer: m.peer, addrs: [...m.addrs], incarnation: m.incarnation, state: m.state }
    if (m.by !== undefined) u.by = m.by
    if (m.tags !== undefined) u.tags = { ...m.tags }
    if (m.boot !== undefined) u.boot = m.boot
    return u
  }

  mergeAll(updates: MemberUpdate[], now: number, direct: boolean): void {
    for (const u of updates) this.merge(u, now, direct)
  }

  /**
   * Apply one gossiped update. Order of precedence: a higher incarnation wins; at equal incarnation
   * left > dead > suspect > alive. `direct` marks news learned by state exchange, which gossipsub has
   * not carried yet, so it is broadcast as well as piggybacked.
   */
  merge(u: MemberUpdate, now: number, direct: boolean): void {
    const ctx = this.ctx
    // Trust R3/R4 (trust.ts): only what the subject itself claimed (signed, or first-hand) is merged.
    if (this.hooks.mayMerge && !this.hooks.mayMerge(u)) return
    if (u.id === ctx.self.id) return this.mergeAboutSelf(u, now)
    const m = ctx.members.get(u.id)
    if (!m) {
      const member: Member = { ...u, addrs: [...u.addrs], since: now, aliveSince: now }
      if (u.tags) member.tags = { ...u.tags }
      if (u.state === 'suspect') member.state = 'alive'
      ctx.members.set(u.id, member)
      this.seen.add(u.id)
      ctx.idByPeer.set(u.peer, u.id)
      if (member.state === 'alive') {
        this.prober.insert(u.id)
        ctx.emit({ type: 'member-joined', member: copy(member) })
      }
      this.relay(this.updateOf(member), direct)
      this.hooks.peersChanged()
      return
    }
    if (m.peer !== u.peer) {
      if (ctx.isLive(m)) {
        if (u.state === 'alive' && !this.conflictsReported.has(u.id + '/' + u.peer)) {
          this.conflictsReported.add(u.id + '/' + u.peer)
          ctx.emit({ type: 'id-conflict', id: u.id, peer: u.peer, fatal: false })
        }
        return
      }
      if (u.state !== 'alive') return
      // The id was held by a key that is gone: the new key takes it over.
      ctx.idByPeer.delete(m.peer)
      ctx.idByPeer.set(u.peer, u.id)
      m.peer = u.peer
      m.incarnation = u.incarnation
      this.setBoot(m, u.boot)
      this.setTags(m, u.tags)
      this.setState(m, 'alive', now)
      m.addrs = [...u.addrs]
      this.relay(this.updateOf(m), direct)
      this.hooks.peersChanged()
      return
    }
    if (u.incarnation < m.incarnation) return
    if (u.incarnation === m.incarnation) {
      if (rank(u.state) < rank(m.state)) return
      if (rank(u.state) === rank(m.state)) {
        // Same suspicion reported by another member: an independent confirmation (Lifeguard).
        if (u.state === 'suspect' && u.by !== undefined && this.suspicions.confirm(u.id, u.by)) this.relay(u, direct)
        return
      }
    }
    if (u.state === 'alive' || u.state === 'suspect') {
      if (m.addrs.join() !== u.addrs.join()) this.hooks.peersChanged()
      m.addrs = [...u.addrs]
      this.setBoot(m, u.boot)
      // Tags are the member's own claim: only a state it announced itself (alive) carries them.
      if (u.state === 'alive') this.setTags(m, u.tags)
    }
    m.incarnation = u.incarnation
    if (u.by !== undefined) m.by = u.by
    else delete m.by
    this.setState(m, u.state, now)
    if (u.state === 'suspect' && this.suspicions.start(m, u.by ?? '?', now) && u.by !== ctx.self.id && !this.prober.probing(m.id)) {
      // Probe the suspect ourselves: either it answers, or our failure is an independent confirmation.
      this.prober.start(m, now, false)
    }
    this.relay(this.updateOf(m), direct)
  }

  /** The boot nonce is part of the member's signed claim (twin.ts W1): it travels with the claim it came in. */
  private setBoot(m: Member, boot: string | undefined): void {
    if (boot !== undefined) m.boot = boot
    else delete m.boot
  }

  private setTags(m: Member, tags: Record<string, string> | undefined): void {
    if (tags && Object.keys(tags).length > 0) m.tags = { ...tags }
    else delete m.tags
  }

  private mergeAboutSelf(u: MemberUpdate, now: number): void {
    const ctx = this.ctx
    const self = ctx.self
    if (u.peer !== self.peer) {
      if (u.state !== 'alive' && u.state !== 'suspect') return
      const key = u.id + '/' + u.peer
      if (!this.established) {
        // We are the later joiner: another live key holds our id. We must not win silently.
        ctx.emit({ type: 'id-conflict', id: u.id, peer: u.peer, fatal: true })
      } else if (!this.conflictsReported.has(key)) {
        this.conflictsReported.add(key)
        ctx.emit({ type: 'id-conflict', id: u.id, peer: u.peer, fatal: false })
      }
      return
    }
    if (self.state === 'left') return
    // Twin rule W3 (twin.ts): another live process holds our key; this one stops.
    if (this.hooks.twin?.(u) === 'stop') return
    if (u.incarnation < self.incarnation) {
      // An accuser still holds a suspicion we already refuted (our refutation to it was lost): tell it again.
      if (u.state !== 'alive' && u.by !== undefined) this.resendRefutation(u.by, now)
      return
    }
    if (u.state === 'alive' && u.incarnation === self.incarnation) return
    // Others hold a claim about us at our incarnation or above (suspicion, death, or a previous run of
    // this key): refute it by raising our incarnation.
    self.incarnation = u.incarnation + 1
    if (u.state === 'dead' || u.state === 'left') self.aliveSince = now
    if (u.state === 'suspect') this.health.worse()
    ctx.emit({ type: 'refuted', incarnation: self.incarnation })
    this.queueLocal(this.updateOf(self))
    // And answer directly: the accuser and a few others hold timers that would declare us dead.
    const accuser = u.by !== undefined ? ctx.members.get(u.by) : undefined
    const targets = ctx.pick(ctx.liveOthers().filter((m) => m !== accuser), ctx.config.maxPiggyback)
    if (accuser && accuser !== self && ctx.isLive(accuser)) targets.push(accuser)
    for (const t of targets) ctx.send(t.peer, { t: 'updates', from: self.id, updates: [this.updateOf(self)] }, t.addrs)
    this.hooks.peersChanged()
  }

  /**
   * A member we suspect is talking to us, so it is up but has not refuted: our copy of the suspicion (or its
   * refutation) was lost. Tell it again, at most once per probe timeout.
   */
  nudgeSuspect(fromPeer: PeerKey, now: number): void {
    const m = this.ctx.memberOfPeer(fromPeer)
    if (!m || m.state !== 'suspect' || m.peer !== fromPeer) return
    if (now - (this.nudged.get(m.id) ?? -Infinity) < this.ctx.config.probeTimeoutMs) return
    this.nudged.set(m.id, now)
    this.ctx.send(m.peer, { t: 'updates', from: this.ctx.self.id, updates: [this.updateOf(m)] }, m.addrs)
  }

  private resendRefutation(accuserId: string, now: number): void {
    const accuser = this.ctx.members.get(accuserId)
    if (!accuser || accuser === this.ctx.self || !this.ctx.isLive(accuser)) return
    const key = '\u0000refute:' + accuserId
    if (now - (this.nudged.get(key) ?? -Infinity) < this.ctx.config.probeTimeoutMs) return
    this.nudged.set(key, now)
    this.ctx.send(accuser.peer, { t: 'updates', from: this.ctx.self.id, updates: [this.updateOf(this.ctx.self)] }, accuser.addrs)
  }

  setState(m: Member, state: MemberState, now: number): void {
    const previous = m.state
    if (previous === state) return
    m.state = state
    m.since = now
    if ((state === 'alive' || state === 'suspect') && (previous === 'dead' || previous === 'left')) {
      m.aliveSince = now
      this.prober.insert(m.id)
    }
    if (state !== 'suspect') this.suspicions.clear(m.id)
    if (state === 'alive') delete m.by
    this.ctx.emit({ type: 'member-state', member: copy(m), previous })
  }

  /** Queue a change for dissemination. */
  private relay(u: MemberUpdate, direct: boolean): void {
    this.gossip.push(u)
    if (direct) this.broadcastBatch.push(u)
  }

  /** A change this node originated: piggyback it and broadcast it at once. */
  queueLocal(u: MemberUpdate): void {
    this.gossip.push(u)
    this.broadcastBatch.push(u)
  }

  takeGossip(): MemberUpdate[] {
    const n = this.ctx.members.size
    return this.gossip.take(this.ctx.config.maxPiggyback, this.ctx.config.retransmitMult * Math.max(1, Math.ceil(Math.log10(n + 1))))
  }

  /** Piggyback for a ping to `m`: a suspect always hears of its own suspicion, so it can refute at once. */
  gossipFor(m: Member): MemberUpdate[] {
    const g = this.takeGossip()
    if (m.state === 'suspect' && !g.some((u) => u.id === m.id)) g.unshift(this.updateOf(m))
    return g
  }

  /** Our probe of a live member failed: suspect it (or confirm a suspicion already running). */
  probeFailed(m: Member, now: number): void {
    const self = this.ctx.self
    if (m.state === 'alive') {
      m.by = self.id
      this.setState(m, 'suspect', now)
      this.suspicions.start(m, self.id, now)
      this.ctx.emit({ type: 'suspicion', id: m.id, by: self.id })
      this.queueLocal(this.updateOf(m))
      // Tell the suspect directly too, so it can refute before the timeout even if gossip is slow.
      this.ctx.send(m.peer, { t: 'updates', from: self.id, updates: [this.updateOf(m)] }, m.addrs)
    } else if (m.state === 'suspect' && this.suspicions.confirm(m.id, self.id)) {
      this.ctx.emit({ type: 'suspicion', id: m.id, by: self.id })
      this.queueLocal({ ...this.updateOf(m), by: self.id })
    }
  }

  /**
   * A suspect that never hears of its suspicion cannot refute it, and one direct notice can be lost. Until the
   * suspicion ends, the accuser repeats it to the suspect once per probe timeout (a suspect that talks to us is
   * nudged the same way, nudgeSuspect): a handful of small messages per suspicion, bounded by its timeout.
   */
  remindSuspects(now: number): void {
    for (const m of this.ctx.members.values()) {
      if (m.state !== 'suspect' || m.by !== this.ctx.self.id) continue
      if (now - (this.nudged.get(m.id) ?? -Infinity) < this.ctx.config.probeTimeoutMs) continue
      this.nudged.set(m.id, now)
      this.ctx.send(m.peer, { t: 'updates', from: this.ctx.self.id, updates: [this.updateOf(m)] }, m.addrs)
    }
  }

  /** Suspects whose timers ran out are declared dead. */
  expireSuspicions(now: number): void {
    for (const m of this.suspicions.expired(now)) {
      m.by = this.ctx.self.id
      this.setState(m, 'dead', now)
      this.queueLocal(this.updateOf(m))
    }
  }

  onLeave(fromPeer: PeerKey, msg: Extract<Message, { t: 'leave' }>, now: number): void {
    const m = this.ctx.members.get(msg.from)
    if (m && m.peer === fromPeer) this.merge({ ...this.updateOf(m), state: 'left', incarnation: msg.incarnation }, now, false)
  }

  // ------------------------------------------------------------------ state exchange

  /** Push our full state to `peer` (paged); `reply` marks an answer, which is not answered again. */
  sendSync(peer: PeerKey, addrs: string[], reply: boolean): void {
    const all = [...this.ctx.members.values()].map((m) => this.updateOf(m))
    const header = this.hooks.header()
    for (let i = 0; i < all.length || i === 0; i += SYNC_PAGE_MEMBERS) {
      const last = i + SYNC_PAGE_MEMBERS >= all.length
      const msg: SyncMessage = { t: 'sync', from: this.ctx.self.id, reply, members: all.slice(i, i + SYNC_PAGE_MEMBERS), ...header }
      if (!last) msg.more = true
      this.ctx.send(peer, msg, addrs)
    }
  }

  onSync(fromPeer: PeerKey, msg: SyncMessage, now: number): void {
    this.mergeAll(msg.members, now, true)
    this.hooks.synced(fromPeer, msg, now)
    if (msg.more) return
    if (msg.reply) this.established = true
    else this.sendSync(fromPeer, this.ctx.addrsOfPeer(fromPeer), true)
  }

  // ------------------------------------------------------------------ reaping

  /** Gone members are forgotten after reapAfterMs; voters only once the master dropped them (`isVoter`). */
  reap(now: number, isVoter: (id: string) => boolean): void {
    for (const m of [...this.ctx.members.values()]) {
      if (m === this.ctx.self || this.ctx.isLive(m)) continue
      if (now - m.since < this.ctx.config.reapAfterMs || isVoter(m.id)) continue
      this.drop(m.id)
    }
  }

  drop(id: string): void {
    const m = this.ctx.members.get(id)
    if (!m) return
    this.ctx.members.delete(id)
    if (this.ctx.idByPeer.get(m.peer) === id) this.ctx.idByPeer.delete(m.peer)
    this.suspicions.clear(id)
    this.ctx.emit({ type: 'member-removed', id })
    this.hooks.peersChanged()
  }
}

export function copy(m: Member): Member {
  const c: Member = { ...m, addrs: [...m.addrs] }
  if (m.tags) c.tags = { ...m.tags }
  return c
}
