// The conclave protocol core: SWIM membership with Lifeguard refinements, and master election by leases.
// Pure: no I/O, no timers, no clock, no Math.random. The caller passes `now` (monotonic ms) and an rng,
// and carries out the returned effects. The libp2p agent and the simulator drive this same code.

import { GossipQueue, rank } from './gossip-queue.ts'
import { compareIds, lowestId } from './order.ts'
import type {
  CoreConfig,
  CoreEvent,
  CoreStatus,
  Effect,
  MasterView,
  Member,
  MemberState,
  MemberUpdate,
  Message,
  Observation,
  PeerKey,
  QuorumView,
  VoterConfig,
} from './types.ts'

export interface Seed {
  peer: PeerKey
  addrs: string[]
}

interface Probe {
  seq: number
  target: string
  peer: PeerKey
  phase: 'direct' | 'indirect'
  /** When the current phase ends. */
  deadline: number
  /** Probe of a dead member to find out whether a partition healed: no suspicion on failure. */
  revive: boolean
  expectedNacks: number
  nacks: number
}

interface Relay {
  requesterPeer: PeerKey
  requesterSeq: number
  target: string
  deadline: number
}

interface Suspicion {
  incarnation: number
  start: number
  confirmers: Set<string>
  /** Confirmations that would shrink the timeout to its minimum. */
  k: number
}

interface Grant {
  holder: string
  term: number
  expiresAt: number
}

interface HeldGrant {
  term: number
  validUntil: number
  configVersion: number
}

type MasterKey = { id: string; term: number } | null

export class ClusterCore {
  readonly config: CoreConfig
  private readonly rng: () => number
  private readonly members = new Map<string, Member>()
  private readonly idByPeer = new Map<PeerKey, string>()
  private readonly self: Member
  private readonly gossip = new GossipQueue()
  private readonly probes = new Map<number, Probe>()
  private readonly relays = new Map<number, Relay>()
  private readonly suspicions = new Map<string, Suspicion>()
  private readonly conflictsReported = new Set<string>()
  private readonly nudged = new Map<string, number>()
  private readonly startedAt: number
  private seq = 0
  private probeOrder: string[] = []
  private probeIndex = 0
  private nextProbeAt: number
  private nextSyncAt: number
  private nextDeadProbeAt: number
  private health = 0
  private established = false
  /** Every id ever in the member list (any state): what `expect` counts. */
  private readonly seen = new Set<string>()
  private expectMet = false
  private leftCluster = false

  // Election state.
  private maxTerm = 0
  /** Highest term this node granted a lease for, as a voter: a new mastership must exceed it. */
  private promisedTerm = 0
  /**
   * A node started without memory (no startTerm: a new or wiped data dir) may have promised terms in a
   * previous life. It grants nothing until it has heard the highest term from enough other voters that every
   * majority it could have been part of is covered; `termSources` are the voters heard from so far.
   */
  private amnesiac: boolean
  private readonly termSources = new Set<string>()
  private nextTermPollAt = 0
  private voterConfig: VoterConfig | null = null
  /** This node's lease, as a voter. */
  private grant: Grant | null = null
  /** Leases held by this node as candidate, per voter. */
  private held = new Map<string, HeldGrant>()
  /** Config version each voter last reported, so the config is sent only to those behind. */
  private voterVersion = new Map<string, number>()
  private candidateTerm = 0
  /** Set when the candidate term was used for a mastership that ended: the next one needs a new term. */
  private termSpent = false
  private leaseRequests = new Map<number, number>()
  private nextLeaseAt: number
  private wasMaster = false
  private campaignSince: number | null = null
  private masterTerm = 0
  private claim: { id: string; term: number; heardAt: number } | null = null
  private maxClaimTerm = 0
  private reportedMaster: MasterKey = null
  private pendingRemovals = new Set<string>()
  private out: Effect[] = []
  private broadcastBatch: MemberUpdate[] = []

  constructor(config: CoreConfig, rng: () => number, now: number) {
    this.config = config
    this.rng = rng
    this.startedAt = now
    this.self = {
      id: config.id,
      peer: config.peer,
      addrs: [...config.addrs],
      incarnation: 0,
      state: 'alive',
      since: now,
      aliveSince: now,
    }
    this.members.set(config.id, this.self)
    this.idByPeer.set(config.peer, config.id)
    this.seen.add(config.id)
    this.nextProbeAt = now + this.rng() * config.probeIntervalMs
    this.nextSyncAt = now + config.syncIntervalMs * (0.5 + this.rng())
    this.nextDeadProbeAt = now + config.deadProbeIntervalMs
    this.nextLeaseAt = now
    this.maxTerm = config.startTerm ?? 0
    this.promisedTerm = this.maxTerm
    this.amnesiac = !(config.startTerm !== undefined && config.startTerm > 0)
  }

  // ---------------------------------------------------------------- inputs

  /** Join through seed peers (bootstrap addresses): push our state to each, they answer with theirs. */
  start(seeds: Seed[], now: number): Effect[] {
    for (const s of seeds) if (s.peer !== this.self.peer) this.sendSync(s.peer, s.addrs, false)
    this.queueLocal(this.updateOf(this.self))
    return this.finish()
  }

  tick(now: number): Effect[] {
    if (this.leftCluster) return []
    if (!this.established && now - this.startedAt >= this.joinGraceMs()) this.established = true
    this.advanceProbes(now)
    this.advanceRelays(now)
    this.advanceSuspicions(now)
    if (now >= this.nextProbeAt) {
      this.nextProbeAt = now + this.config.probeIntervalMs * (1 + this.health)
      this.probeNext(now)
    }
    if (now >= this.nextDeadProbeAt) {
      this.nextDeadProbeAt = now + this.config.deadProbeIntervalMs
      this.probeDead(now)
    }
    if (now >= this.nextSyncAt) {
      this.nextSyncAt = now + this.config.syncIntervalMs * (0.5 + this.rng())
      const m = this.pick(this.liveOthers(), 1)[0]
      if (m) this.sendSync(m.peer, m.addrs, false)
    }
    this.reap(now)
    this.pollTerms(now)
    this.electionTick(now)
    return this.finish()
  }

  receive(fromPeer: PeerKey, msg: Message, now: number): Effect[] {
    if (this.leftCluster) return []
    this.nudgeSuspect(fromPeer, now)
    switch (msg.t) {
      case 'ping':
        this.mergeAll(msg.gossip, now, false)
        this.send(fromPeer, { t: 'ack', seq: msg.seq, from: this.self.id, gossip: this.takeGossip() })
        // A ping from a member we consider dead means the partition healed: exchange full state.
        if (this.isGone(msg.from)) this.sendSync(fromPeer, this.addrsOfPeer(fromPeer), false)
        break
      case 'ack':
        this.mergeAll(msg.gossip, now, false)
        this.onAck(msg.seq)
        break
      case 'nack': {
        const p = this.probes.get(msg.seq)
        if (p) p.nacks++
        break
      }
      case 'ping-req': {
        const seq = ++this.seq
        const target = this.members.get(msg.target)
        this.relays.set(seq, {
          requesterPeer: fromPeer,
          requesterSeq: msg.seq,
          target: msg.target,
          deadline: now + this.probeTimeout() * 0.8,
        })
        this.send(msg.targetPeer, { t: 'ping', seq, from: this.self.id, gossip: [] }, target?.addrs)
        break
      }
      case 'sync':
        this.onSync(fromPeer, msg, now)
        break
      case 'updates':
        this.mergeAll(msg.updates, now, false)
        break
      case 'leave': {
        const m = this.members.get(msg.from)
        if (m && m.peer === fromPeer) this.merge({ ...this.updateOf(m), state: 'left', incarnation: msg.incarnation }, now, false)
        break
      }
      case 'lease-req':
        this.onLeaseRequest(fromPeer, msg, now)
        break
      case 'lease-ack':
        this.onLeaseAck(msg, now)
        break
      case 'lease-release':
        if (this.grant && this.grant.holder === msg.from && this.grant.term === msg.term) this.grant = null
        if (this.claim && this.claim.id === msg.from) this.claim = null
        break
      case 'remove': {
        const r = this.remove(msg.id, now)
        void r // The forwarding node already answered its user; errors here are visible in the master's log.
        break
      }
    }
    this.electionTick(now, false)
    return this.finish()
  }

  observe(obs: Observation, now: number): Effect[] {
    if (this.leftCluster) return []
    const id = this.idByPeer.get(obs.peer)
    const m = id !== undefined ? this.members.get(id) : undefined
    switch (obs.type) {
      case 'peer-connected':
        // A new peer (discovery, inbound dial) or a dead member back in reach: exchange full state.
        if (!m || m.state === 'dead' || m.state === 'left') this.sendSync(obs.peer, obs.addrs, false)
        break
      case 'peer-disconnected':
        // Never a verdict: probe now instead of waiting for the member's turn.
        if (m && m !== this.self && (m.state === 'alive' || m.state === 'suspect') && !this.probing(m.id)) {
          this.startProbe(m, now, false)
        }
        break
      case 'send-failed':
        for (const p of this.probes.values()) {
          if (p.peer === obs.peer && p.phase === 'direct') this.toIndirect(p, now)
        }
        for (const [seq, r] of this.relays) {
          if (this.members.get(r.target)?.peer === obs.peer) {
            this.relays.delete(seq)
            this.send(r.requesterPeer, { t: 'nack', seq: r.requesterSeq, from: this.self.id })
          }
        }
        break
    }
    return this.finish()
  }

  /** Graceful leave: tell everyone, give up any mastership, stop taking part. */
  leave(now: number): Effect[] {
    if (this.leftCluster) return []
    this.stepDown(now, 'leaving', true)
    this.self.incarnation++
    this.self.state = 'left'
    this.self.since = now
    const u = this.updateOf(this.self)
    this.broadcastBatch.push(u)
    for (const m of this.liveOthers()) this.send(m.peer, { t: 'leave', from: this.self.id, incarnation: this.self.incarnation })
    this.emit({ type: 'left' })
    const effects = this.finish()
    this.leftCluster = true
    return effects
  }

  /** Drop a dead or left member so it stops voting. Carried out by the master; others forward it there. */
  remove(id: string, now: number): { ok: true; effects: Effect[] } | { ok: false; error: string } {
    const m = this.members.get(id)
    if (id === this.self.id) return { ok: false, error: 'a node cannot remove itself; use leave' }
    if (!m && !this.voterConfig?.voters.includes(id)) return { ok: false, error: `unknown member "${id}"` }
    if (m && (m.state === 'alive' || m.state === 'suspect')) {
      return { ok: false, error: `member "${id}" is ${m.state}; only dead or left members can be removed` }
    }
    if (this.config.quorum === 'none' || !this.voterConfig?.voters.includes(id)) {
      this.dropMember(id)
      return { ok: true, effects: this.finish() }
    }
    if (this.isMaster(now)) {
      this.pendingRemovals.add(id)
      this.electionTick(now, false)
      return { ok: true, effects: this.finish() }
    }
    const master = this.master(now)
    const mm = master ? this.members.get(master.id) : undefined
    if (!master || !mm) {
      const q = this.quorumView(now)
      return { ok: false, error: `no master to carry out the removal (${q.visible} of ${q.voting} voting members visible, ${q.needed} needed)` }
    }
    this.send(mm.peer, { t: 'remove', from: this.self.id, id })
    return { ok: true, effects: this.finish() }
  }

  // ---------------------------------------------------------------- queries

  status(now: number): CoreStatus {
    return {
      id: this.self.id,
      peer: this.self.peer,
      incarnation: this.self.incarnation,
      isMaster: this.isMaster(now),
      term: this.maxTerm,
      maxTerm: this.maxTerm,
      master: this.master(now),
      quorum: this.quorumView(now),
      config: this.voterConfig ? { ...this.voterConfig, voters: [...this.voterConfig.voters] } : null,
      healthScore: this.health,
      members: [...this.members.values()]
        .map((m) => ({ ...m, addrs: [...m.addrs] }))
        .sort((a, b) => compareIds(a.id, b.id)),
      left: this.leftCluster,
    }
  }

  /** True while this node holds leases from a majority of voters (quorum=majority), or is the lowest live id (quorum=none). */
  isMaster(now: number): boolean {
    if (this.leftCluster || !this.expectMet) return false
    // Under quorum=none the role starts at a tick, which also picks its term: between ticks report what was decided.
    if (this.config.quorum === 'none') return this.wasMaster && this.candidate(now) === this.self.id
    return this.isMasterRaw(now)
  }

  /** The master this node recognises: itself while it holds the role, else the last one heard from, if fresh. */
  master(now: number): MasterView | null {
    if (this.leftCluster) return null
    if (this.isMaster(now)) return { id: this.self.id, term: this.currentMasterTerm() }
    const c = this.claim
    if (!c || now - c.heardAt > this.config.leaseDurationMs) return null
    // Superseded since it was heard (e.g. this node held a higher term meanwhile): not recognised.
    if (c.term < this.maxClaimTerm) return null
    const m = this.members.get(c.id)
    if (!m || m.state === 'dead' || m.state === 'left') return null
    if (this.config.quorum === 'majority' && !this.quorumView(now).has) return null
    return { id: c.id, term: c.term }
  }

  member(id: string): Member | undefined {
    const m = this.members.get(id)
    return m ? { ...m, addrs: [...m.addrs] } : undefined
  }

  memberByPeer(peer: PeerKey): Member | undefined {
    const id = this.idByPeer.get(peer)
    return id !== undefined ? this.member(id) : undefined
  }

  // ---------------------------------------------------------------- membership

  private updateOf(m: Member): MemberUpdate {
    const u: MemberUpdate = { id: m.id, peer: m.peer, addrs: [...m.addrs], incarnation: m.incarnation, state: m.state }
    if (m.by !== undefined) u.by = m.by
    return u
  }

  private mergeAll(updates: MemberUpdate[], now: number, direct: boolean): void {
    for (const u of updates) this.merge(u, now, direct)
  }

  /**
   * Apply one gossiped update. Order of precedence: a higher incarnation wins; at equal incarnation
   * left > dead > suspect > alive. `direct` marks news learned by state exchange, which gossipsub has
   * not carried yet, so it is broadcast as well as piggybacked.
   */
  private merge(u: MemberUpdate, now: number, direct: boolean): void {
    if (u.id === this.self.id) return this.mergeAboutSelf(u, now)
    const m = this.members.get(u.id)
    if (!m) {
      const member: Member = { ...u, addrs: [...u.addrs], since: now, aliveSince: now }
      if (u.state === 'suspect') member.state = 'alive'
      this.members.set(u.id, member)
      this.seen.add(u.id)
      this.idByPeer.set(u.peer, u.id)
      if (member.state === 'alive') {
        this.insertIntoProbeOrder(u.id)
        this.emit({ type: 'member-joined', member: { ...member } })
      }
      this.relay(this.updateOf(member), direct)
      return
    }
    if (m.peer !== u.peer) {
      if (m.state === 'alive' || m.state === 'suspect') {
        if (u.state === 'alive' && !this.conflictsReported.has(u.id + '/' + u.peer)) {
          this.conflictsReported.add(u.id + '/' + u.peer)
          this.emit({ type: 'id-conflict', id: u.id, peer: u.peer, fatal: false })
        }
        return
      }
      if (u.state !== 'alive') return
      // The id was held by a key that is gone: the new key takes it over.
      this.idByPeer.delete(m.peer)
      this.idByPeer.set(u.peer, u.id)
      m.peer = u.peer
      m.incarnation = u.incarnation
      this.setState(m, 'alive', now)
      m.addrs = [...u.addrs]
      this.relay(this.updateOf(m), direct)
      return
    }
    if (u.incarnation < m.incarnation) return
    if (u.incarnation === m.incarnation) {
      if (rank(u.state) < rank(m.state)) return
      if (rank(u.state) === rank(m.state)) {
        // Same suspicion reported by another member: an independent confirmation (Lifeguard).
        if (u.state === 'suspect' && u.by !== undefined) {
          const s = this.suspicions.get(u.id)
          if (s && !s.confirmers.has(u.by)) {
            s.confirmers.add(u.by)
            this.relay(u, direct)
          }
        }
        return
      }
    }
    if (u.state === 'alive' || u.state === 'suspect') m.addrs = [...u.addrs]
    m.incarnation = u.incarnation
    if (u.by !== undefined) m.by = u.by
    else delete m.by
    this.setState(m, u.state, now)
    if (u.state === 'suspect') this.startSuspicion(m, u.by ?? '?', now)
    this.relay(this.updateOf(m), direct)
  }

  private mergeAboutSelf(u: MemberUpdate, now: number): void {
    if (u.peer !== this.self.peer) {
      if (u.state !== 'alive' && u.state !== 'suspect') return
      const key = u.id + '/' + u.peer
      if (!this.established) {
        // We are the later joiner: another live key holds our id. We must not win silently.
        this.emit({ type: 'id-conflict', id: u.id, peer: u.peer, fatal: true })
      } else if (!this.conflictsReported.has(key)) {
        this.conflictsReported.add(key)
        this.emit({ type: 'id-conflict', id: u.id, peer: u.peer, fatal: false })
      }
      return
    }
    if (this.self.state === 'left') return
    if (u.incarnation < this.self.incarnation) {
      // An accuser still holds a suspicion we already refuted (our refutation to it was lost): tell it again.
      if (u.state !== 'alive' && u.by !== undefined) this.resendRefutation(u.by, now)
      return
    }
    if (u.state === 'alive' && u.incarnation === this.self.incarnation) return
    // Others hold a claim about us at our incarnation or above (suspicion, death, or a previous run of
    // this key): refute it by raising our incarnation.
    this.self.incarnation = u.incarnation + 1
    if (u.state === 'dead' || u.state === 'left') this.self.aliveSince = now
    if (u.state === 'suspect') this.health = Math.min(this.config.maxHealthScore, this.health + 1)
    this.emit({ type: 'refuted', incarnation: this.self.incarnation })
    this.queueLocal(this.updateOf(this.self))
    // And answer directly: the accuser and a few others hold timers that would declare us dead.
    const accuser = u.by !== undefined ? this.members.get(u.by) : undefined
    const targets = this.pick(this.liveOthers().filter((m) => m !== accuser), this.config.maxPiggyback)
    if (accuser && accuser !== this.self && (accuser.state === 'alive' || accuser.state === 'suspect')) targets.push(accuser)
    for (const t of targets) this.send(t.peer, { t: 'updates', from: this.self.id, updates: [this.updateOf(this.self)] }, t.addrs)
  }

  /**
   * A member we suspect is talking to us, so it is up but has not refuted: our copy of the suspicion (or its
   * refutation) was lost. Tell it again, at most once per probe timeout.
   */
  private nudgeSuspect(fromPeer: PeerKey, now: number): void {
    const id = this.idByPeer.get(fromPeer)
    const m = id !== undefined ? this.members.get(id) : undefined
    if (!m || m.state !== 'suspect' || m.peer !== fromPeer) return
    if (now - (this.nudged.get(m.id) ?? -Infinity) < this.config.probeTimeoutMs) return
    this.nudged.set(m.id, now)
    this.send(m.peer, { t: 'updates', from: this.self.id, updates: [this.updateOf(m)] }, m.addrs)
  }

  private resendRefutation(accuserId: string, now: number): void {
    const accuser = this.members.get(accuserId)
    if (!accuser || accuser === this.self || (accuser.state !== 'alive' && accuser.state !== 'suspect')) return
    const key = '\u0000refute:' + accuserId
    if (now - (this.nudged.get(key) ?? -Infinity) < this.config.probeTimeoutMs) return
    this.nudged.set(key, now)
    this.send(accuser.peer, { t: 'updates', from: this.self.id, updates: [this.updateOf(this.self)] }, accuser.addrs)
  }

  private setState(m: Member, state: MemberState, now: number): void {
    const previous = m.state
    if (previous === state) return
    m.state = state
    m.since = now
    if (state === 'alive' || state === 'suspect') {
      if (previous === 'dead' || previous === 'left') {
        m.aliveSince = now
        this.insertIntoProbeOrder(m.id)
      }
    }
    if (state !== 'suspect') this.suspicions.delete(m.id)
    if (state === 'alive') delete m.by
    this.emit({ type: 'member-state', member: { ...m, addrs: [...m.addrs] }, previous })
  }

  /** Queue a change for dissemination. */
  private relay(u: MemberUpdate, direct: boolean): void {
    this.gossip.push(u)
    if (direct) this.broadcastBatch.push(u)
  }

  /** A change this node originated: piggyback it and broadcast it at once. */
  private queueLocal(u: MemberUpdate): void {
    this.gossip.push(u)
    this.broadcastBatch.push(u)
  }

  private takeGossip(): MemberUpdate[] {
    const n = this.members.size
    return this.gossip.take(this.config.maxPiggyback, this.config.retransmitMult * Math.max(1, Math.ceil(Math.log10(n + 1))))
  }

  private onSync(fromPeer: PeerKey, msg: Extract<Message, { t: 'sync' }>, now: number): void {
    this.mergeAll(msg.members, now, true)
    this.learnTerm(msg.from, fromPeer, msg.maxTerm)
    if (msg.config) this.adoptConfig(msg.config)
    if (msg.reply) this.established = true
    else this.sendSync(fromPeer, this.addrsOfPeer(fromPeer), true)
  }

  private sendSync(peer: PeerKey, addrs: string[], reply: boolean): void {
    const members = [...this.members.values()].map((m) => this.updateOf(m))
    this.send(peer, { t: 'sync', from: this.self.id, reply, members, config: this.voterConfig, maxTerm: this.maxTerm }, addrs)
  }

  // ---------------------------------------------------------------- failure detection

  private probeTimeout(): number {
    return this.config.probeTimeoutMs * (1 + this.health)
  }

  private probing(id: string): boolean {
    for (const p of this.probes.values()) if (p.target === id) return true
    return false
  }

  private probeNext(now: number): void {
    for (let tries = 0; tries < 2; tries++) {
      while (this.probeIndex < this.probeOrder.length) {
        const id = this.probeOrder[this.probeIndex++]!
        const m = this.members.get(id)
        if (!m || m === this.self || (m.state !== 'alive' && m.state !== 'suspect')) continue
        if (this.probing(id)) continue
        this.startProbe(m, now, false)
        return
      }
      // One pass done: a new random order, as in SWIM's round-robin probing.
      this.probeOrder = this.shuffle([...this.members.values()].filter((m) => m !== this.self && (m.state === 'alive' || m.state === 'suspect')).map((m) => m.id))
      this.probeIndex = 0
    }
  }

  private insertIntoProbeOrder(id: string): void {
    const at = this.probeIndex + Math.floor(this.rng() * (this.probeOrder.length - this.probeIndex + 1))
    this.probeOrder.splice(at, 0, id)
  }

  private probeDead(now: number): void {
    const dead = [...this.members.values()].filter((m) => m.state === 'dead' && !this.probing(m.id))
    const m = this.pick(dead, 1)[0]
    if (m) this.startProbe(m, now, true)
  }

  private startProbe(m: Member, now: number, revive: boolean): void {
    const seq = ++this.seq
    this.probes.set(seq, { seq, target: m.id, peer: m.peer, phase: 'direct', deadline: now + this.probeTimeout(), revive, expectedNacks: 0, nacks: 0 })
    this.send(m.peer, { t: 'ping', seq, from: this.self.id, gossip: revive ? [] : this.gossipFor(m) }, m.addrs)
  }

  /** Piggyback for a ping to `m`: a suspect always hears of its own suspicion, so it can refute at once. */
  private gossipFor(m: Member): MemberUpdate[] {
    const g = this.takeGossip()
    if (m.state === 'suspect' && !g.some((u) => u.id === m.id)) g.unshift(this.updateOf(m))
    return g
  }

  private toIndirect(p: Probe, now: number): void {
    p.phase = 'indirect'
    p.deadline = now + this.config.indirectTimeoutMs * (1 + this.health)
    if (p.revive) {
      p.deadline = now
      return
    }
    const helpers = this.pick(this.liveOthers().filter((m) => m.id !== p.target && m.state === 'alive'), this.config.indirectChecks)
    p.expectedNacks = helpers.length
    for (const h of helpers) this.send(h.peer, { t: 'ping-req', seq: p.seq, from: this.self.id, target: p.target, targetPeer: p.peer }, h.addrs)
    // Try the direct path once more alongside the indirect ones (memberlist's fallback probe): one lost
    // message must not be enough to raise a suspicion.
    const target = this.members.get(p.target)
    if (target) this.send(target.peer, { t: 'ping', seq: p.seq, from: this.self.id, gossip: this.gossipFor(target) }, target.addrs)
  }

  private advanceProbes(now: number): void {
    for (const p of [...this.probes.values()]) {
      if (p.phase === 'direct') {
        if (now >= p.deadline) this.toIndirect(p, now)
        continue
      }
      // Every helper answered that it could not reach the target either: no need to wait out the deadline.
      const allNacked = p.expectedNacks > 0 && p.nacks >= p.expectedNacks
      if (now >= p.deadline || allNacked) this.probeFailed(p, now)
    }
  }

  private onAck(seq: number): void {
    const relay = this.relays.get(seq)
    if (relay) {
      this.relays.delete(seq)
      this.send(relay.requesterPeer, { t: 'ack', seq: relay.requesterSeq, from: this.self.id, gossip: [] })
      return
    }
    const p = this.probes.get(seq)
    if (!p) return
    this.probes.delete(seq)
    this.emit({ type: 'probe', target: p.target, ok: true, indirect: p.phase === 'indirect' })
    if (this.health > 0) this.health--
    const m = this.members.get(p.target)
    if (p.revive && m && m.state === 'dead') {
      // A dead member answers: the partition healed. Exchange full state; it will refute its death.
      this.sendSync(m.peer, m.addrs, false)
    }
  }

  private probeFailed(p: Probe, now: number): void {
    this.probes.delete(p.seq)
    this.emit({ type: 'probe', target: p.target, ok: false, indirect: p.phase === 'indirect' })
    if (p.revive) return
    // Lifeguard local health: missing nacks suggest the problem is here, not at the target.
    if (p.nacks < p.expectedNacks) this.health = Math.min(this.config.maxHealthScore, this.health + 1)
    const m = this.members.get(p.target)
    if (!m || m.peer !== p.peer) return
    if (m.state === 'alive') {
      m.by = this.self.id
      this.setState(m, 'suspect', now)
      this.startSuspicion(m, this.self.id, now)
      this.emit({ type: 'suspicion', id: m.id, by: this.self.id })
      this.queueLocal(this.updateOf(m))
      // Tell the suspect directly too, so it can refute before the timeout even if gossip is slow.
      this.send(m.peer, { t: 'updates', from: this.self.id, updates: [this.updateOf(m)] }, m.addrs)
    } else if (m.state === 'suspect') {
      const s = this.suspicions.get(m.id)
      if (s && !s.confirmers.has(this.self.id)) {
        s.confirmers.add(this.self.id)
        this.emit({ type: 'suspicion', id: m.id, by: this.self.id })
        this.queueLocal({ ...this.updateOf(m), by: this.self.id })
      }
    }
  }

  private advanceRelays(now: number): void {
    for (const [seq, r] of this.relays) {
      if (now >= r.deadline) {
        this.relays.delete(seq)
        this.send(r.requesterPeer, { t: 'nack', seq: r.requesterSeq, from: this.self.id })
      }
    }
  }

  private startSuspicion(m: Member, by: string, now: number): void {
    const existing = this.suspicions.get(m.id)
    if (existing && existing.incarnation === m.incarnation) {
      existing.confirmers.add(by)
      return
    }
    const others = this.liveOthers().filter((x) => x.id !== m.id).length
    this.suspicions.set(m.id, { incarnation: m.incarnation, start: now, confirmers: new Set([by]), k: Math.min(this.config.indirectChecks, Math.max(0, others - 1)) })
    // Probe the suspect ourselves: either it answers, or our failure is an independent confirmation.
    if (by !== this.self.id && !this.probing(m.id)) this.startProbe(m, now, false)
  }

  /** Lifeguard: the timeout falls from max to min as independent confirmations arrive. */
  suspicionTimeout(confirmations: number, k: number): number {
    const n = Math.max(1, [...this.members.values()].filter((m) => m.state === 'alive' || m.state === 'suspect').length)
    const min = this.config.suspicionMinMs * Math.max(1, Math.log10(n))
    const max = min * this.config.suspicionMaxMult
    if (k < 1) return min
    const frac = Math.log(confirmations + 1) / Math.log(k + 1)
    return Math.max(min, max - (max - min) * Math.min(1, frac))
  }

  private advanceSuspicions(now: number): void {
    for (const [id, s] of this.suspicions) {
      const m = this.members.get(id)
      if (!m || m.state !== 'suspect' || m.incarnation !== s.incarnation) {
        this.suspicions.delete(id)
        continue
      }
      const timeout = this.suspicionTimeout(s.confirmers.size - 1, s.k)
      if (now - s.start >= timeout) {
        this.suspicions.delete(id)
        m.by = this.self.id
        this.setState(m, 'dead', now)
        this.queueLocal(this.updateOf(m))
      }
    }
  }

  private reap(now: number): void {
    for (const m of [...this.members.values()]) {
      if (m === this.self || (m.state !== 'dead' && m.state !== 'left')) continue
      if (now - m.since < this.config.reapAfterMs) continue
      if (this.voterConfig?.voters.includes(m.id)) {
        if (this.isMaster(now)) this.pendingRemovals.add(m.id)
        continue
      }
      this.dropMember(m.id)
    }
  }

  private dropMember(id: string): void {
    const m = this.members.get(id)
    if (!m) return
    this.members.delete(id)
    if (this.idByPeer.get(m.peer) === id) this.idByPeer.delete(m.peer)
    this.suspicions.delete(id)
    this.emit({ type: 'member-removed', id })
  }

  // ---------------------------------------------------------------- election

  private joinGraceMs(): number {
    return this.config.probeIntervalMs * 2
  }

  /** The member this node would make master: the lowest live id, where newcomers wait out the stability window while a live holder exists. */
  candidate(now: number): string | undefined {
    const live = [...this.members.values()].filter((m) => m.state === 'alive' || m.state === 'suspect')
    const holder = this.protectedHolder(now)
    const holderLive = holder !== undefined && live.some((m) => m.id === holder)
    const eligible = holderLive
      ? live.filter((m) => m.id === holder || now - m.aliveSince >= this.config.stabilityWindowMs)
      : live
    return lowestId(eligible.map((m) => m.id))
  }

  private protectedHolder(now: number): string | undefined {
    if (this.isMasterRaw(now)) return this.self.id
    if (this.grant && this.grant.expiresAt > now) return this.grant.holder
    if (this.claim && now - this.claim.heardAt <= this.config.leaseDurationMs) return this.claim.id
    return undefined
  }

  private isMasterRaw(now: number): boolean {
    if (this.config.quorum === 'none') return this.wasMaster
    const cfg = this.voterConfig
    if (!cfg || this.leftCluster) return false
    let count = 0
    for (const v of cfg.voters) {
      const h = this.held.get(v)
      if (h && h.term === this.candidateTerm && h.validUntil > now) count++
    }
    return count >= needed(this.votingCount(cfg, now))
  }

  private currentMasterTerm(): number {
    return this.config.quorum === 'none' ? this.masterTerm : this.candidateTerm
  }

  /**
   * Voters that left gracefully do not vote, even before a master drops them from the config. A left member
   * never grants again, but a grant it gave just before leaving is valid for one more lease, so it stops
   * counting only a lease (plus drift) after we learned it left. Views that disagree on who left then still
   * have intersecting majorities.
   */
  private votingCount(cfg: VoterConfig, now: number): number {
    return cfg.voters.filter((v) => !this.leftForGood(v, now)).length
  }

  private leftForGood(id: string, now: number): boolean {
    const m = this.members.get(id)
    return m !== undefined && m.state === 'left' && now - m.since > this.config.leaseDurationMs * (1 + this.config.clockDrift)
  }

  quorumView(now: number): QuorumView {
    if (this.config.quorum === 'none') {
      const visible = this.liveOthers().length + 1
      return { has: true, visible, voting: visible, needed: 1 }
    }
    const voters = (this.voterConfig?.voters ?? []).filter((v) => !this.leftForGood(v, now))
    const visible = voters.filter((v) => {
      const m = this.members.get(v)
      return m !== undefined && (m.state === 'alive' || m.state === 'suspect')
    }).length
    const need = voters.length > 0 ? needed(voters.length) : 1
    return { has: voters.length > 0 && visible >= need, visible, voting: voters.length, needed: need }
  }

  private adoptConfig(c: VoterConfig): boolean {
    const mine = this.voterConfig
    if (mine && compareConfigs(c, mine) <= 0) return false
    this.voterConfig = { version: c.version, term: c.term, voters: [...c.voters].sort(compareIds) }
    this.maxTerm = Math.max(this.maxTerm, c.term)
    this.emit({ type: 'config-changed', config: { ...this.voterConfig, voters: [...this.voterConfig.voters] } })
    return true
  }

  private electionTick(now: number, periodic = true): void {
    if (this.leftCluster) return
    // `expect` guards the cold start only: a cluster that already has a voter config was bootstrapped.
    if (!this.expectMet && (this.seen.size >= this.config.expect || this.voterConfig !== null)) this.expectMet = true
    if (this.claim && now - this.claim.heardAt > this.config.leaseDurationMs) this.claim = null
    const iAmCandidate = this.expectMet && this.candidate(now) === this.self.id

    if (this.config.quorum === 'none') {
      if (iAmCandidate && !this.wasMaster) {
        this.maxTerm++
        this.masterTerm = this.maxTerm
      }
    } else {
      if (!this.voterConfig && this.expectMet && this.established && iAmCandidate) {
        // Bootstrap: the first voter configuration is every member seen (dead ones included, left ones not),
        // so that nodes bootstrapping on different views of the same cold start still write the same config
        // instead of a smaller one of the members they happen to see alive.
        const voters = [...this.members.values()].filter((m) => m.state !== 'left').map((m) => m.id)
        if (this.members.size >= this.config.expect && voters.length > 0) this.adoptConfig({ version: 1, term: 0, voters })
      }
      // A lower id has become eligible: hand over cleanly by giving up the leases first.
      if (this.isMasterRaw(now) && !iAmCandidate) this.stepDown(now, 'a lower id is eligible')
      if (!iAmCandidate || this.isMasterRaw(now)) this.campaignSince = null
      else if (this.campaignSince === null) {
        this.campaignSince = now
        this.nextLeaseAt = now
      }
      if (periodic && now >= this.nextLeaseAt) {
        // Ask often for the first seconds of a campaign (a failover waits on it), then at the renewal pace.
        const fast = this.campaignSince !== null && now - this.campaignSince < this.config.leaseDurationMs * 3
        this.nextLeaseAt = now + (fast ? Math.min(this.config.leaseRenewMs, 100) : this.config.leaseRenewMs)
        if (iAmCandidate && this.voterConfig) this.requestLeases(now)
        else if (!iAmCandidate) this.held.clear()
      }
      for (const [seq, sentAt] of this.leaseRequests) if (now - sentAt > this.config.leaseDurationMs) this.leaseRequests.delete(seq)
    }
    this.updateMasterState(now)
  }

  private requestLeases(now: number): void {
    const master = this.isMasterRaw(now)
    if (!master && this.termSpent) {
      this.candidateTerm = this.maxTerm + 1
      this.termSpent = false
      this.held.clear()
    }
    if (this.candidateTerm <= 0 || (!master && this.candidateTerm <= this.maxTerm && !this.heldAny())) {
      this.candidateTerm = Math.max(this.candidateTerm, this.maxTerm + 1)
    }
    if (master) this.changeConfigIfDue(now)
    const cfg = this.voterConfig!
    const seq = ++this.seq
    this.leaseRequests.set(seq, now)
    // Our own vote follows the same rule as everyone else's.
    if (cfg.voters.includes(this.self.id)) {
      const d = this.decideGrant(this.self.id, this.candidateTerm, cfg.version, now)
      if (!d.granted && d.reason === 'stale-term' && !master) {
        // Our own promise is above the campaign's term (e.g. after an amnesiac's jump): campaign above it.
        this.candidateTerm = Math.max(this.maxTerm, this.promisedTerm) + 1
        this.held.clear()
        this.nextLeaseAt = now
        return
      }
      if (d.granted) this.held.set(this.self.id, { term: this.candidateTerm, validUntil: now + this.holderShare(this.config.leaseDurationMs), configVersion: cfg.version })
    }
    for (const m of this.liveOthers()) {
      const voter = cfg.voters.includes(m.id)
      if (!voter && !master) continue
      const msg: Extract<Message, { t: 'lease-req' }> = { t: 'lease-req', from: this.self.id, seq, term: this.candidateTerm, master, configVersion: cfg.version }
      if ((this.voterVersion.get(m.id) ?? -1) < cfg.version) msg.config = cfg
      this.send(m.peer, msg, m.addrs)
    }
  }

  private learnTerm(from: string, fromPeer: PeerKey, term: number): void {
    if (term > this.maxTerm) this.maxTerm = term
    if (!this.amnesiac) return
    const m = this.members.get(from)
    if (!m || m.peer !== fromPeer || from === this.self.id) return
    this.termSources.add(from)
    this.promisedTerm = Math.max(this.promisedTerm, term)
    this.checkAmnesia()
  }

  private checkAmnesia(now?: number): void {
    const cfg = this.voterConfig
    if (!this.amnesiac || !cfg) return
    if (now !== undefined && now - this.startedAt >= this.config.leaseDurationMs * AMNESIA_WAIT_LEASES) {
      // The voters that could vouch for our old promises are gone (dead, left, cut off). Waiting longer would cost
      // the cluster its master for good; instead promise well above every term heard of, so a term hidden with
      // them is very unlikely to be reused. (Leases cannot overlap either way: a restarted voter granted nothing
      // for a whole lease.)
      this.promisedTerm = Math.max(this.promisedTerm, this.maxTerm) + AMNESIA_TERM_JUMP
      this.maxTerm = Math.max(this.maxTerm, this.promisedTerm)
      this.amnesiac = false
      return
    }
    const others = cfg.voters.filter((v) => v !== this.self.id)
    // Every majority that included this node also includes `required` of the others (voters that left since
    // count too: they may have been part of it). When too few can answer, the timeout above applies.
    const required = cfg.voters.length - needed(cfg.voters.length) + 1
    if (!cfg.voters.includes(this.self.id) || others.length === 0 || others.filter((v) => this.termSources.has(v)).length >= Math.min(required, others.length)) {
      this.amnesiac = false
    }
  }

  /** While amnesiac, ask the voters for their highest term (a state exchange carries it). */
  private pollTerms(now: number): void {
    this.checkAmnesia(now)
    if (!this.amnesiac || now < this.nextTermPollAt) return
    const cfg = this.voterConfig
    if (!cfg) return
    this.nextTermPollAt = now + this.config.leaseDurationMs
    for (const m of this.liveOthers()) if (cfg.voters.includes(m.id) && !this.termSources.has(m.id)) this.sendSync(m.peer, m.addrs, false)
  }

  /**
   * How long the holder counts a grant of `durationMs`, from when it asked: shortened by the clock-drift bound,
   * and by as much again as a fence margin, so a master that loses its majority stops its masterOnly work
   * (the agent kills it on `stepped-down`) before any voter can grant the role to another node.
   */
  private holderShare(durationMs: number): number {
    return durationMs * (1 - 2 * this.config.clockDrift)
  }

  private heldAny(): boolean {
    for (const h of this.held.values()) if (h.term === this.candidateTerm) return true
    return false
  }

  /** One voter change at a time, and only once a majority has acknowledged the current config. */
  private changeConfigIfDue(now: number): void {
    const cfg = this.voterConfig!
    const acked = cfg.voters.filter((v) => v === this.self.id || ((this.held.get(v)?.configVersion ?? -1) >= cfg.version && (this.held.get(v)?.validUntil ?? 0) > now)).length
    if (acked < needed(this.votingCount(cfg, now))) return
    let next: string[] | null = null
    for (const id of this.pendingRemovals) {
      this.pendingRemovals.delete(id)
      if (cfg.voters.includes(id)) {
        next = cfg.voters.filter((v) => v !== id)
        break
      }
    }
    if (!next) {
      const left = cfg.voters.find((v) => this.members.get(v)?.state === 'left')
      if (left) next = cfg.voters.filter((v) => v !== left)
    }
    if (!next) {
      // Admit a joiner only once it has stayed alive a while: a member heard of once and then lost
      // would cost the quorum availability.
      const joiner = [...this.members.values()]
        .filter((m) => m.state === 'alive' && !cfg.voters.includes(m.id) && now - m.aliveSince >= this.config.stabilityWindowMs)
        .sort((a, b) => compareIds(a.id, b.id))[0]
      if (joiner) next = [...cfg.voters, joiner.id]
    }
    if (!next || next.length === 0) return
    this.adoptConfig({ version: cfg.version + 1, term: this.candidateTerm, voters: next })
    for (const v of next) if (!cfg.voters.includes(v)) this.voterVersion.delete(v)
  }

  private decideGrant(from: string, term: number, configVersion: number, now: number): { granted: boolean; reason?: Extract<Message, { t: 'lease-ack' }>['reason']; holder?: string } {
    const cfg = this.voterConfig
    if (!cfg || !cfg.voters.includes(this.self.id)) return { granted: false, reason: 'not-voter' }
    // A restarted voter has forgotten whom it granted: it must let any grant of its previous run expire first,
    // and, without memory of its terms, learn the highest term from enough other voters.
    if (now - this.startedAt < this.config.leaseDurationMs || this.amnesiac) return { granted: false, reason: 'bound' }
    if (configVersion < cfg.version) return { granted: false, reason: 'stale-config' }
    const lowest = this.candidate(now)
    if (lowest !== from) return lowest !== undefined ? { granted: false, reason: 'not-lowest', holder: lowest } : { granted: false, reason: 'not-lowest' }
    const g = this.grant
    if (g && g.holder !== from && g.expiresAt > now) return { granted: false, reason: 'bound', holder: g.holder }
    const renewal = g !== null && g.holder === from && g.term === term
    // Compared with the terms this voter granted, not every term it heard of: the acks of a candidate's
    // own campaign raise its maxTerm to its candidate term, and must not make it refuse its own vote.
    if (!renewal && term <= this.promisedTerm) return { granted: false, reason: 'stale-term' }
    this.grant = { holder: from, term, expiresAt: now + this.config.leaseDurationMs }
    this.promisedTerm = Math.max(this.promisedTerm, term)
    this.maxTerm = Math.max(this.maxTerm, term)
    return { granted: true }
  }

  private onLeaseRequest(fromPeer: PeerKey, msg: Extract<Message, { t: 'lease-req' }>, now: number): void {
    const sender = this.members.get(msg.from)
    if (!sender || sender.peer !== fromPeer) return
    if (msg.config) this.adoptConfig(msg.config)
    // A master announcement with an older term than one already heard is stale (TCP delivers what a partition
    // held back once it heals): believing it would make the recognised master and term go back.
    if (msg.master && msg.term >= this.maxClaimTerm) {
      this.claim = { id: msg.from, term: msg.term, heardAt: now }
      this.maxClaimTerm = msg.term
      this.maxTerm = Math.max(this.maxTerm, msg.term)
    }
    const cfg = this.voterConfig
    // Non-voters only listen to the announcement.
    if (!cfg || !cfg.voters.includes(this.self.id)) {
      if (!msg.master && cfg) this.send(fromPeer, this.leaseAck(msg, { granted: false, reason: 'not-voter' }, cfg))
      return
    }
    const d = this.decideGrant(msg.from, msg.term, msg.configVersion, now)
    this.send(fromPeer, this.leaseAck(msg, d, msg.configVersion !== cfg.version ? cfg : undefined), sender.addrs)
  }

  private leaseAck(req: Extract<Message, { t: 'lease-req' }>, d: ReturnType<ClusterCore['decideGrant']>, cfg?: VoterConfig): Message {
    const ack: Extract<Message, { t: 'lease-ack' }> = {
      t: 'lease-ack',
      from: this.self.id,
      seq: req.seq,
      term: req.term,
      granted: d.granted,
      durationMs: this.config.leaseDurationMs,
      maxTerm: this.maxTerm,
      configVersion: this.voterConfig?.version ?? 0,
    }
    if (d.reason) ack.reason = d.reason
    if (d.holder !== undefined) ack.holder = d.holder
    if (cfg) ack.config = cfg
    return ack
  }

  private onLeaseAck(msg: Extract<Message, { t: 'lease-ack' }>, now: number): void {
    if (msg.config) this.adoptConfig(msg.config)
    this.voterVersion.set(msg.from, msg.configVersion)
    const sentAt = this.leaseRequests.get(msg.seq)
    const wasMaster = this.isMasterRaw(now)
    if (msg.granted && sentAt !== undefined && msg.term === this.candidateTerm && !this.termSpent) {
      // The voter's lease started no earlier than our request left; shorten it by the drift bound.
      this.held.set(msg.from, { term: msg.term, validUntil: sentAt + this.holderShare(msg.durationMs), configVersion: msg.configVersion })
    }
    const sender = this.members.get(msg.from)
    if (sender) this.learnTerm(msg.from, sender.peer, msg.maxTerm)
    if (!msg.granted && msg.reason === 'stale-term' && !wasMaster && msg.maxTerm >= this.candidateTerm) {
      this.candidateTerm = msg.maxTerm + 1
      this.held.clear()
    }
  }

  /**
   * Stop being master. `release` (on a graceful leave, after the agent stopped its work) frees the voters'
   * grants at once for a fast hand-over. A hand-over to a lower id does not release: the grants run out
   * first, which gives this node's masterOnly work time to be stopped before the next master can start.
   */
  private stepDown(now: number, reason: string, release = false): void {
    if (this.config.quorum === 'none') {
      if (this.wasMaster) {
        this.wasMaster = false
        this.emit({ type: 'stepped-down', term: this.masterTerm, reason })
      }
      return
    }
    const master = this.isMasterRaw(now)
    const term = this.candidateTerm
    this.held.clear()
    this.termSpent = true
    if (release && this.grant && this.grant.holder === this.self.id) this.grant = null
    if (master || this.wasMaster) {
      this.wasMaster = false
      this.emit({ type: 'stepped-down', term, reason })
      const voters = this.voterConfig?.voters ?? []
      if (release) for (const m of this.liveOthers()) if (voters.includes(m.id)) this.send(m.peer, { t: 'lease-release', from: this.self.id, term })
    }
  }

  private updateMasterState(now: number): void {
    if (this.config.quorum === 'none') {
      const cand = this.expectMet && this.candidate(now) === this.self.id && !this.leftCluster
      if (cand && !this.wasMaster) {
        this.wasMaster = true
        this.maxClaimTerm = Math.max(this.maxClaimTerm, this.masterTerm)
        this.emit({ type: 'became-master', term: this.masterTerm })
      } else if (!cand && this.wasMaster) {
        this.stepDown(now, 'a lower id is live')
      }
      if (this.wasMaster && this.maxTerm > this.masterTerm) {
        // Merged with a side that elected under higher terms: continue under a new, higher term so the
        // fencing token never goes back for anyone.
        this.masterTerm = ++this.maxTerm
        this.maxClaimTerm = Math.max(this.maxClaimTerm, this.masterTerm)
      }
      if (this.wasMaster && this.nextLeaseAt <= now) {
        this.nextLeaseAt = now + this.config.leaseRenewMs
        for (const m of this.liveOthers()) this.send(m.peer, { t: 'lease-req', from: this.self.id, seq: ++this.seq, term: this.masterTerm, master: true, configVersion: 0 }, m.addrs)
      }
    } else {
      const master = this.isMasterRaw(now)
      if (master && !this.wasMaster) {
        this.wasMaster = true
        this.masterTerm = this.candidateTerm
        this.maxClaimTerm = Math.max(this.maxClaimTerm, this.candidateTerm)
        this.maxTerm = Math.max(this.maxTerm, this.candidateTerm)
        this.emit({ type: 'became-master', term: this.candidateTerm })
      } else if (!master && this.wasMaster) {
        this.wasMaster = false
        // The term is spent: a late grant for it must not revive this mastership (its work was fenced), so
        // the grants are dropped and the next campaign asks for a new term.
        this.termSpent = true
        this.held.clear()
        this.emit({ type: 'stepped-down', term: this.masterTerm, reason: 'lost the majority of leases' })
      }
    }
    const cur = this.master(now)
    const prev = this.reportedMaster
    if ((cur?.id ?? null) !== (prev?.id ?? null) || (cur?.term ?? null) !== (prev?.term ?? null)) {
      this.reportedMaster = cur ? { ...cur } : null
      this.emit({ type: 'master-changed', master: cur ? { ...cur } : null, previous: prev })
    }
  }

  // ---------------------------------------------------------------- plumbing

  private liveOthers(): Member[] {
    return [...this.members.values()].filter((m) => m !== this.self && (m.state === 'alive' || m.state === 'suspect'))
  }

  private isGone(id: string): boolean {
    const m = this.members.get(id)
    return !m || m.state === 'dead' || m.state === 'left'
  }

  private addrsOfPeer(peer: PeerKey): string[] {
    const id = this.idByPeer.get(peer)
    return id !== undefined ? [...(this.members.get(id)?.addrs ?? [])] : []
  }

  private send(to: PeerKey, msg: Message, addrs?: string[]): void {
    this.out.push({ type: 'send', to, addrs: addrs ? [...addrs] : this.addrsOfPeer(to), msg })
  }

  private emit(event: CoreEvent): void {
    this.out.push({ type: 'emit', event })
  }

  private finish(): Effect[] {
    if (this.broadcastBatch.length > 0) {
      this.out.push({ type: 'broadcast', msg: { t: 'updates', from: this.self.id, updates: this.broadcastBatch } })
      this.broadcastBatch = []
    }
    const out = this.out
    this.out = []
    return out
  }

  private pick<T>(items: T[], n: number): T[] {
    return this.shuffle([...items]).slice(0, n)
  }

  private shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng() * (i + 1))
      ;[a[i], a[j]] = [a[j]!, a[i]!]
    }
    return a
  }
}

/** An amnesiac voter waits this many lease lengths for term reports before it jumps its promise instead. */
const AMNESIA_WAIT_LEASES = 10
const AMNESIA_TERM_JUMP = 100

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
