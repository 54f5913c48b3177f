// The conclave protocol core: SWIM membership with Lifeguard refinements, and master election by leases.
// Pure: no I/O, no timers, no clock, no Math.random. The caller passes `now` (monotonic ms) and an rng, and carries
// out the returned effects in order. The libp2p agent and the simulator drive this same code.
//
// This file only wires the concerns together and routes inputs; the rules live in their own modules:
//   membership.ts (member table, gossip, state exchange)   probes.ts (SWIM probing)   suspicion.ts, health.ts
//   lineage.ts (cluster id, bootstrap, merge)   voters.ts (voter config, autopilot)   lease.ts   terms.ts
//   election.ts (quorum=majority)   election-none.ts (quorum=none)
// finish() is the one place that drains the effects of a step; it puts a persist effect ahead of every other effect
// of the step whenever durable state changed, so nothing that depends on it can leave before it is on disk.

import { Ctx } from './context.ts'
import { MajorityElection, copyConfig, type ElectionBase, type RemoveResult } from './election.ts'
import { NoQuorumElection } from './election-none.ts'
import { LocalHealth } from './health.ts'
import { copy, Membership } from './membership.ts'
import { compareIds } from './order.ts'
import { Prober, type ProbeExtras } from './probes.ts'
import { Suspicions } from './suspicion.ts'
import { Trust, type TrustOptions } from './trust.ts'
import { bootNonce, TwinGuard } from './twin.ts'
import type { CoreConfig, CoreStatus, Effect, MasterView, Member, Message, Observation, PeerKey, QuorumView, StoredState } from './types.ts'

export { needed, compareConfigs } from './voters.ts'

export interface Seed {
  peer: PeerKey
  addrs: string[]
}

/** A rejoining node re-dials the peers it stored with back-off from 1 s up to 30 s, for as long as it runs (C1). */
const REJOIN_MIN_MS = 1_000
const REJOIN_MAX_MS = 30_000
/** The stored peer list follows membership changes at most this often (it is a hint, not a promise). */
const PEERS_PERSIST_MS = 5_000
/** At most this many peers are stored for rejoining. */
const MAX_STORED_PEERS = 64

/**
 * Ticks, as the agent and the simulator drive them: at the core's next deadline (nextTickAt), at most one per
 * TICK_MIN_GAP_MS and at least one per TICK_MAX_GAP_MS. 50 ms is the granularity every timeout had when the core
 * was ticked at a fixed 20 per second; an idle agent now wakes 4-6 times a second for its core instead of 20 (a lone
 * agent's 50 ms tick was about a third of its idle CPU, docs/bench-runtime.md). The 250 ms floor bounds how late a
 * deadline that nextTickAt leaves out could be; the simulator runs every seed on this same schedule.
 */
export const TICK_MIN_GAP_MS = 50
export const TICK_MAX_GAP_MS = 250

/** Milliseconds from `now` to the next tick, given the core's next deadline and the last tick's time. */
export function tickDelay(now: number, due: number, lastTickAt: number, minGapMs = TICK_MIN_GAP_MS): number {
  const at = Math.min(Math.max(due, lastTickAt + minGapMs), now + Math.max(TICK_MAX_GAP_MS, minGapMs))
  return Math.max(0, at - now)
}

export class ClusterCore {
  readonly config: CoreConfig
  private readonly ctx: Ctx
  private readonly health: LocalHealth
  private readonly suspicions: Suspicions
  private readonly prober: Prober
  private readonly membership: Membership
  private readonly election: ElectionBase
  private readonly trust: Trust
  private readonly twin: TwinGuard
  private leftCluster = false
  /** Durable state as last handed to the shell (compared at the end of every step). */
  private persistedKey: string
  private peersDirty = false
  private nextPeersPersistAt = 0
  private readonly rejoinPeers: Seed[]
  private nextRejoinAt: number
  private rejoinBackoff = REJOIN_MIN_MS
  private nextSyncAt: number

  /** `trust`: the signing functions and the drop counter of the trust rules (trust.ts); without crypto, R3 is off. */
  constructor(config: CoreConfig, rng: () => number, now: number, trust: TrustOptions = {}) {
    this.config = config
    const ctx = (this.ctx = new Ctx(config, rng, now))
    this.trust = new Trust(ctx, trust)
    const historyKnown = (config.stored !== undefined && config.stored.historyUnknown !== true) || config.newKey === true
    this.twin = new TwinGuard(ctx, config.boot ?? bootNonce(config.wallClockAtStart ?? 0, now.toString(36)), historyKnown)
    this.health = new LocalHealth(config.maxHealthScore, now)
    this.suspicions = new Suspicions(ctx)
    this.prober = new Prober(ctx, this.health, {
      gossipFor: (m) => this.membership.gossipFor(m),
      failed: (m, t) => this.membership.probeFailed(m, t),
      // A gone member answers: the partition healed or it came back. Exchange full state; it will refute.
      revived: (m, t) => this.membership.revived(m, t),
      answered: (m) => this.membership.suspectAnswered(m),
      hearingAgain: (t) => this.membership.pushState(t),
      extras: (t) => this.probeExtras(t),
    }, now)
    this.membership = new Membership(ctx, this.health, this.suspicions, this.prober, {
      header: () => {
        const l = this.election.lineage
        const h = { cluster: l.cluster, config: l.config ? copyConfig(l.config) : null, maxTerm: this.election.terms.maxTerm }
        return l.retired.length > 0 ? { ...h, retired: [...l.retired] } : h
      },
      synced: (fromPeer, msg, t) => {
        if (msg.reply && !msg.more) this.twin.syncReplied()
        this.election.onSync(fromPeer, msg, t)
      },
      peersChanged: () => (this.peersDirty = true),
      mayMerge: (u) => this.trust.mayMerge(u),
      twin: (u) => this.twin.judge(u),
    })
    const hooks = { sendSync: (peer: PeerKey, addrs: string[], reply: boolean) => this.membership.sendSync(peer, addrs, reply) }
    this.election =
      config.quorum === 'none'
        ? new NoQuorumElection(ctx, this.membership, hooks, config.stored, now)
        : new MajorityElection(ctx, this.membership, hooks, config.stored, now)
    this.rejoinPeers = (config.stored?.peers ?? []).filter((p) => p.peer !== config.peer).map((p) => ({ peer: p.peer, addrs: [...p.addrs] }))
    this.nextRejoinAt = now
    this.nextSyncAt = now + config.syncIntervalMs * (0.5 + rng())
    this.persistedKey = config.stored ? this.durableKey() : ''
    // Twin rule W2: after the stored key is taken, so the raised incarnation is persisted before it is claimed.
    if (config.stored) this.twin.restarted(config.stored.incarnation, historyKnown)
  }

  // ---------------------------------------------------------------- inputs

  /** Join through seed peers (bootstrap addresses) and the peers stored last run: push our state, they answer. */
  start(seeds: Seed[], now: number): Effect[] {
    for (const s of seeds) if (s.peer !== this.ctx.self.peer) this.membership.sendSync(s.peer, s.addrs, false)
    this.rejoin(now)
    this.membership.queueLocal(this.membership.updateOf(this.ctx.self))
    return this.finish(now)
  }

  tick(now: number): Effect[] {
    if (this.leftCluster) return []
    if (!this.membership.established && now >= this.establishedBy()) this.membership.established = true
    this.health.tick(now, this.ctx.anyLiveOther())
    this.prober.tick(now)
    this.membership.expireSuspicions(now)
    this.membership.remindSuspects(now)
    this.membership.releaseReturn(now)
    this.membership.releaseReadmissions(now)
    if (now >= this.nextSyncAt) {
      this.nextSyncAt = now + this.config.syncIntervalMs * (0.5 + this.ctx.rng())
      const m = this.ctx.pick(this.ctx.liveOthers(), 1)[0]
      if (m) this.membership.sendDigest(m.peer, m.addrs)
    }
    this.rejoin(now)
    this.membership.reap(now, (id) => this.isVoter(id))
    this.election.tick(now, true)
    return this.finish(now)
  }

  /**
   * The earliest local time at which `tick` has work to do with no input in between (a deadline in the past: at
   * once). The driver asks again after every input, since an input can bring a deadline nearer (tickDelay).
   */
  nextTickAt(now: number): number {
    if (this.leftCluster) return Infinity
    let at = Math.min(
      this.nextSyncAt,
      this.prober.nextDeadline(now),
      this.membership.nextDeadline(now),
      this.election.nextDeadline(now),
      this.health.nextDeadline(this.ctx.anyLiveOther()),
    )
    if (!this.membership.established) at = Math.min(at, this.establishedBy())
    if (this.rejoinPeers.length > 0) at = Math.min(at, this.nextRejoinAt)
    if (this.peersDirty) at = Math.min(at, this.nextPeersPersistAt)
    return at
  }

  receive(fromPeer: PeerKey, received: Message, now: number): Effect[] {
    if (this.leftCluster) return []
    // The acceptance filter (trust.ts R1-R7): a message that breaks a rule is dropped before any concern sees it.
    const l = this.election.lineage
    const msg = this.trust.accept(fromPeer, received, { maxTerm: this.election.terms.maxTerm, inCluster: l.cluster !== null, config: l.config })
    if (!msg) return this.finish(now)
    // M1: anything heard ends a deaf spell; the returning side then pushes its state.
    if (this.health.heard(now)) this.membership.pushState(now)
    this.membership.nudgeSuspect(fromPeer, now)
    const m = this.membership
    switch (msg.t) {
      case 'ping':
        m.mergeAll(msg.gossip, now, false)
        this.heardProbe(msg.from, msg.cluster, msg.master, now)
        // F1: a flapping node holding its return answers no probe of a member that holds it live, so every observer
        // reaches the same verdict on its own evidence (M3) instead of some holding it suspect for as long as one
        // probe in five gets through. It answers revive probes (the sender holds it gone already): two flapping
        // nodes must not keep each other out.
        if (!m.returnHeld || msg.revive) this.ctx.send(fromPeer, { t: 'ack', seq: msg.seq, from: this.ctx.self.id, gossip: m.takeGossip(), ...this.probeExtras(now) })
        // A ping from a member we consider gone means the partition healed or it came back: exchange full state.
        if (this.ctx.isGone(msg.from)) m.syncGone(fromPeer, this.ctx.addrsOfPeer(fromPeer), now)
        break
      case 'ack':
        m.mergeAll(msg.gossip, now, false)
        this.heardProbe(msg.from, msg.cluster, msg.master, now)
        this.prober.onAck(msg.seq, now)
        break
      case 'nack':
        this.prober.onNack(msg.seq)
        break
      case 'ping-req':
        this.prober.onPingReq(fromPeer, msg, now)
        break
      case 'sync':
        m.onSync(fromPeer, msg, now)
        break
      case 'digest':
        m.onDigest(fromPeer, msg, now)
        break
      case 'updates':
        m.mergeAll(msg.updates, now, false)
        break
      case 'leave':
        // R3's exception: the member's own word on its authenticated connection.
        this.trust.firstHandClaim(fromPeer, () => m.onLeave(fromPeer, msg, now))
        break
      case 'lease-req':
        this.election.onLeaseRequest(fromPeer, msg, now)
        break
      case 'lease-ack':
        this.election.onLeaseAck(msg, now)
        break
      case 'lease-release':
        this.election.onRelease(msg)
        break
      case 'remove':
        // The forwarding node already answered its user; errors here are visible in the master's log.
        if (this.election instanceof MajorityElection) this.election.onRemove(msg.id, now)
        break
    }
    this.election.tick(now, false)
    return this.finish(now)
  }

  observe(obs: Observation, now: number): Effect[] {
    if (this.leftCluster) return []
    const m = this.ctx.memberOfPeer(obs.peer)
    if (obs.type === 'peer-connected' || obs.type === 'peer-disconnected') this.trust.connectionChanged(obs.peer)
    switch (obs.type) {
      case 'peer-connected':
        // A new peer (discovery, inbound dial) or a gone member back in reach: exchange full state.
        if (!m || this.ctx.isGone(m.id)) this.membership.sendSync(obs.peer, obs.addrs, false)
        break
      case 'peer-disconnected':
        // Never a verdict: probe now instead of waiting for the member's turn.
        if (m && m !== this.ctx.self && this.ctx.isLive(m)) this.prober.disconnected(m, now)
        break
      case 'send-failed':
        this.prober.sendFailed(obs.peer, obs.refused === true, now)
        break
    }
    return this.finish(now)
  }

  /** Graceful leave: tell everyone, give up any mastership, stop taking part. */
  leave(now: number): Effect[] {
    if (this.leftCluster) return []
    this.election.leave(now)
    const self = this.ctx.self
    self.incarnation++
    self.state = 'left'
    self.since = now
    this.membership.broadcastBatch.push(this.membership.updateOf(self))
    for (const m of this.ctx.liveOthers()) this.ctx.send(m.peer, { t: 'leave', from: self.id, incarnation: self.incarnation })
    this.ctx.emit({ type: 'left' })
    const effects = this.finish(now)
    this.leftCluster = true
    return effects
  }

  /** Drop a dead or left member so it stops voting. Carried out by the master; others forward it there. */
  remove(id: string, now: number): { ok: true; effects: Effect[] } | { ok: false; error: string } {
    return this.withEffects(this.election.remove(id, now), now)
  }

  /** Operator recovery after the majority of the voters is lost for good (see MajorityElection.recover). */
  recover(voters: string[], now: number): { ok: true; effects: Effect[] } | { ok: false; error: string } {
    return this.withEffects(this.election.recover(voters, now), now)
  }

  private withEffects(r: RemoveResult, now: number): { ok: true; effects: Effect[] } | { ok: false; error: string } {
    if (!r.ok) {
      // A refused action may still have queued nothing; keep the outbox for the next step.
      return r
    }
    return { ok: true, effects: this.finish(now) }
  }

  /** Take new values of tunables that are safe to change while running (SIGHUP); each is read where it is used. */
  reconfigure(tunables: Partial<CoreConfig>): void {
    for (const k of ['id', 'peer', 'quorum', 'leaseDurationMs', 'leaseRenewMs', 'clockDrift', 'stored'] as const) {
      if (k in tunables) throw new Error(`core: ${k} cannot change while running`)
    }
    Object.assign(this.config, tunables)
  }

  // ---------------------------------------------------------------- queries

  status(now: number): CoreStatus {
    const l = this.election.lineage
    return {
      id: this.ctx.self.id,
      clusterId: l.cluster,
      role: this.leftCluster ? 'member' : this.election.role(now),
      peer: this.ctx.self.peer,
      incarnation: this.ctx.self.incarnation,
      isMaster: this.isMaster(now),
      term: this.election.terms.maxTerm,
      maxTerm: this.election.terms.maxTerm,
      master: this.master(now),
      quorum: this.quorumView(now),
      config: l.config ? copyConfig(l.config) : null,
      healthScore: this.health.score,
      flapping: this.membership.returnHeld,
      members: [...this.ctx.members.values()].map(copy).sort((a, b) => compareIds(a.id, b.id)),
      left: this.leftCluster,
    }
  }

  /** True while this node holds leases from a majority of voters (quorum=majority), or is the lowest live id (quorum=none). */
  isMaster(now: number): boolean {
    return !this.leftCluster && this.election.isMaster(now)
  }

  /** The master this node recognises: itself while it holds the role, else the last one heard of, if fresh. */
  master(now: number): MasterView | null {
    return this.leftCluster ? null : this.election.master(now)
  }

  /**
   * Discovery duty: the lowest live id in this node's view queries the LAN for agents it does not know (src/net/
   * lan-query.ts), one node per connected group instead of every node. A node alone has it, and so does the lowest
   * of each side of a partition, so clusters founded on both sides still find each other after the heal.
   */
  discoveryDuty(): boolean {
    if (this.leftCluster) return false
    const self = this.ctx.self.id
    return this.ctx.liveOthers().every((m) => compareIds(self, m.id) < 0)
  }

  /** The cluster (lineage) this node is in; null before it bootstrapped or joined one. */
  clusterId(): string | null {
    return this.election.lineage.cluster
  }

  candidate(now: number): string | undefined {
    return this.election.candidate(now)
  }

  quorumView(now: number): QuorumView {
    return this.election.quorumView(now)
  }

  suspicionTimeout(confirmations: number, k: number): number {
    return this.suspicions.timeout(confirmations, k)
  }

  member(id: string): Member | undefined {
    const m = this.ctx.members.get(id)
    return m ? copy(m) : undefined
  }

  memberByPeer(peer: PeerKey): Member | undefined {
    const id = this.ctx.idByPeer.get(peer)
    return id !== undefined ? this.member(id) : undefined
  }

  /** What the node would store now (the shell also writes it on a graceful stop). */
  stored(): StoredState {
    const l = this.election.lineage
    const peers = this.ctx
      .liveOthers()
      .concat([...this.ctx.members.values()].filter((m) => m !== this.ctx.self && !this.ctx.isLive(m)))
      .filter((m) => m.addrs.length > 0)
      .slice(0, MAX_STORED_PEERS)
      .map((m) => ({ id: m.id, peer: m.peer, addrs: [...m.addrs] }))
    return {
      clusterId: l.cluster,
      retired: [...l.retired],
      config: l.config ? copyConfig(l.config) : null,
      ...this.election.terms.durable(),
      incarnation: this.ctx.self.incarnation,
      ...(this.twin.historyKnown() ? {} : { historyUnknown: true as const }),
      peers: peers.length > 0 || this.rejoinPeers.length === 0 ? peers : this.rejoinPeers.map((p) => ({ id: '', peer: p.peer, addrs: [...p.addrs] })),
    }
  }

  private isVoter(id: string): boolean {
    return this.election instanceof MajorityElection && this.election.isVoter(id)
  }

  // ---------------------------------------------------------------- plumbing

  /** Probes carry the sender's lineage and the master it recognises (so members without a vote learn it). */
  private probeExtras(now: number): ProbeExtras {
    const x: ProbeExtras = {}
    const cluster = this.election.lineage.cluster
    if (cluster !== null) x.cluster = cluster
    const claim = this.election.claimToRelay(now)
    if (claim) x.master = claim
    return x
  }

  private heardProbe(from: string, cluster: string | undefined, claim: Extract<Message, { t: 'ping' }>['master'], now: number): void {
    const l = this.election.lineage
    l.heard(from, cluster ?? null)
    this.election.onRelayedClaim(from, claim, cluster, now)
    // Two lineages meet (C3): a state exchange carries what decides which survives.
    if (cluster !== undefined && l.cluster !== null && cluster !== l.cluster) {
      const m = this.ctx.members.get(from)
      if (m) this.lineageContact(m, now)
    }
  }

  private readonly lineageContacts = new Map<string, number>()

  private lineageContact(m: Member, now: number): void {
    if (now - (this.lineageContacts.get(m.id) ?? -Infinity) < this.config.probeIntervalMs * 2) return
    this.lineageContacts.set(m.id, now)
    this.membership.sendSync(m.peer, m.addrs, false)
  }

  /**
   * Established (this node's id is its own) on the first state-exchange reply, or after the discovery window (at
   * least two probe intervals): a loaded host answers slowly, and a later joiner that decided too early would win an
   * id conflict it must lose.
   */
  private establishedBy(): number {
    return this.ctx.startedAt + Math.max(this.config.probeIntervalMs * 2, this.config.discoveryWindowMs)
  }

  /** C1: while no live member answers, dial the peers stored last run, backing off up to 30 s. */
  private rejoin(now: number): void {
    if (this.rejoinPeers.length === 0 || now < this.nextRejoinAt) return
    if (this.ctx.anyLiveOther()) {
      this.rejoinBackoff = REJOIN_MIN_MS
      this.nextRejoinAt = now + REJOIN_MIN_MS
      return
    }
    this.nextRejoinAt = now + this.rejoinBackoff
    this.rejoinBackoff = Math.min(REJOIN_MAX_MS, this.rejoinBackoff * 2)
    for (const p of this.rejoinPeers) this.membership.sendSync(p.peer, p.addrs, false)
  }

  /** Everything durable, as one comparable string (cheap: a handful of numbers and short ids). */
  private durableKey(): string {
    const l = this.election.lineage
    const t = this.election.terms.durable()
    return `${l.cluster}|${l.retired.join(',')}|${l.config ? `${l.config.version}.${l.config.term}.${l.config.voters.join(',')}` : '-'}|${t.maxTerm}|${t.promisedTerm}|${this.ctx.self.incarnation}|${this.twin.historyKnown()}`
  }

  private finish(now: number): Effect[] {
    const m = this.membership
    if (m.broadcastBatch.length > 0) {
      this.ctx.out.push({ type: 'broadcast', msg: { t: 'updates', from: this.ctx.self.id, updates: m.broadcastBatch } })
      m.broadcastBatch = []
    }
    this.election.terms.check()
    // Trust R3: own claims leave signed, relayed ones with their subject's signature.
    const out = this.trust.signing
      ? this.ctx.out.map((e) => (e.type === 'send' ? { ...e, msg: this.trust.sealOutgoing(e.msg, e.to) } : e.type === 'broadcast' ? { ...e, msg: this.trust.sealOutgoing(e.msg) } : e))
      : this.ctx.out
    this.ctx.out = []
    const key = this.durableKey()
    const peersDue = this.peersDirty && now >= this.nextPeersPersistAt
    if (key !== this.persistedKey || peersDue) {
      this.persistedKey = key
      if (peersDue) {
        this.peersDirty = false
        this.nextPeersPersistAt = now + PEERS_PERSIST_MS
      }
      // Durable before visible: the persist effect goes ahead of every send of this step.
      out.unshift({ type: 'persist', state: this.stored() })
    }
    return out
  }
}
