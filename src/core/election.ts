// Master election: the lowest live id, made safe by majority leases (lease.ts) and fenced by terms (terms.ts),
// inside one lineage (lineage.ts) whose voter config the master keeps full (voters.ts).
// The quorum=none variant lives apart in election-none.ts; both share the candidate rule and master claims here.

import { invariant, type Ctx } from './context.ts'
import { HeldLeases, VoterLease, type Decision, type Refusal } from './lease.ts'
import { Lineage, newClusterId, survives, type LineageView } from './lineage.ts'
import type { Membership, SyncMessage } from './membership.ts'
import { compareIds, lowestId } from './order.ts'
import { Terms } from './terms.ts'
import type { MasterClaim, MasterView, Message, PeerKey, QuorumView, Role, StoredState, VoterConfig } from './types.ts'
import { bootstrapVoters, needed, nextChange } from './voters.ts'

/** An amnesiac voter waits this many lease lengths for term reports before it jumps its promise instead. */
const AMNESIA_WAIT_LEASES = 10
/** How far an amnesiac's promise jumps above every term it heard (a term hidden with lost voters is not reused). */
const AMNESIA_TERM_JUMP = 100
/** Recovery raises the term this far above every term known, and the config version likewise, so that neither
 * can collide with anything the lost voters wrote after the survivors last heard from them. */
const RECOVERY_JUMP = 1000

export interface ElectionHooks {
  sendSync(peer: PeerKey, addrs: string[], reply: boolean): void
}

export type RemoveResult = { ok: true } | { ok: false; error: string }

type Claim = { id: string; term: number; expiresAt: number }

/**
 * V1b: how long a member without a vote goes on naming the master after the last claim it heard ran out, while that
 * master is alive in its view, it sees a quorum and has heard no higher term. Claims reach such members only relayed
 * on probes, each carrying what is left of a 1.2 s lease, and a renewal takes about a second to spread among 50
 * members by probes. With no hold, members without a vote named no master 0.3 % of the time at 12 members, 4 % at 30
 * and 10 % at 50 (test/sim/master-view.test.ts), each gap two master changes in their logs and event streams; held
 * 0.6 s, 0.4 % at 50; 1.2 s, 0.02 %; 2.4 s, none. Their view is a routing hint, not a safety property: a master
 * fences itself by its own lease, and one that lost it refuses forwarded masterOnly work. A held claim ends as soon
 * as its master is suspected, and a claim of a higher term replaces it at once.
 */
export const CLAIM_HOLD_MS = 2_400

/** What both election variants share: who is eligible, what master this node recognises, and reporting it. */
export abstract class ElectionBase {
  readonly terms: Terms
  readonly lineage: Lineage
  protected claim: Claim | null = null
  /** Highest term of a master claim heard: an older claim is stale (TCP delivers what a partition held back). */
  protected maxClaimTerm = 0
  protected wasMaster = false
  protected left = false
  private reported: MasterView | null = null

  constructor(
    protected readonly ctx: Ctx,
    protected readonly membership: Membership,
    protected readonly hooks: ElectionHooks,
    stored: StoredState | undefined,
  ) {
    this.terms = new Terms(stored)
    this.lineage = new Lineage(ctx, stored)
  }

  abstract isMaster(now: number): boolean
  abstract quorumView(now: number): QuorumView
  abstract tick(now: number, periodic: boolean): void
  abstract onLeaseRequest(fromPeer: PeerKey, msg: Extract<Message, { t: 'lease-req' }>, now: number): void
  abstract onLeaseAck(msg: Extract<Message, { t: 'lease-ack' }>, now: number): void
  abstract onRelease(msg: Extract<Message, { t: 'lease-release' }>): void
  abstract onSync(fromPeer: PeerKey, msg: SyncMessage, now: number): void
  abstract stepDown(now: number, reason: string, release?: boolean): void
  abstract remove(id: string, now: number): RemoveResult
  abstract recover(voters: string[], now: number): RemoveResult
  abstract role(now: number): Role
  protected abstract masterTerm(): number
  /** Who this node's own grant (or mastership) protects against newcomers, if anyone. */
  protected abstract protectedHolder(now: number): string | undefined
  /** Whether this node may take part in elections yet (cold-start gates). */
  protected abstract ready(): boolean

  /** The member this node would make master: the lowest live id, where newcomers wait out the stability window while a live holder exists. */
  candidate(now: number): string | undefined {
    const live = this.ctx.live()
    const holder = this.protectedHolder(now)
    const holderLive = holder !== undefined && live.some((m) => m.id === holder)
    const eligible = holderLive ? live.filter((m) => m.id === holder || now - m.aliveSince >= this.ctx.config.stabilityWindowMs) : live
    return lowestId(eligible.map((m) => m.id))
  }

  /**
   * The earliest local time at which this election changes with no input (ClusterCore.nextTickAt): a claim heard
   * runs out, or a newcomer's stability window ends, which may change the candidate.
   */
  nextDeadline(_now: number): number {
    if (this.left) return Infinity
    // Every expiry after this election's last step counts, also one that has passed since (due at once): the step
    // at `steppedAt` acted on those before it. Numbers only: this runs after every input (no arrays built).
    const after = this.steppedAt
    let at = this.claim && this.claim.expiresAt > after ? this.claim.expiresAt : Infinity
    if (at === Infinity && this.claim && this.holdsClaims() && this.claim.expiresAt + CLAIM_HOLD_MS > after) at = this.claim.expiresAt + CLAIM_HOLD_MS
    for (const m of this.ctx.members.values()) {
      const end = m.aliveSince + this.ctx.config.stabilityWindowMs
      if (end > after && end < at && this.ctx.isLive(m)) at = end
    }
    return at
  }

  /** Local time of this election's last step (tick): what expired up to then has been acted on. */
  protected steppedAt = -Infinity

  protected claimValid(now: number): Claim | null {
    return this.claim && now < this.claim.expiresAt ? this.claim : null
  }

  /** Whether this node keeps naming a master for CLAIM_HOLD_MS after its claim ran out (V1b): members without a vote. */
  protected holdsClaims(): boolean {
    return true
  }

  /**
   * The master this node recognises: itself while it holds the role, else the last one heard of, if fresh (or,
   * for a member without a vote, held: V1b).
   */
  master(now: number): MasterView | null {
    if (this.left) return null
    if (this.isMaster(now)) return { id: this.ctx.self.id, term: this.masterTerm() }
    const c = this.claimValid(now) ?? (this.claim && this.holdsClaims() && now < this.claim.expiresAt + CLAIM_HOLD_MS ? this.claim : null)
    // Superseded since it was heard (e.g. this node held a higher term meanwhile): not recognised.
    if (!c || c.term < this.maxClaimTerm) return null
    if (this.ctx.isGone(c.id)) return null
    // A held claim ends as soon as its master is suspected (a fresh one is the master's own word, which counts).
    if (c.expiresAt <= now && !this.ctx.isAliveId(c.id)) return null
    if (!this.quorumView(now).has) return null
    return { id: c.id, term: c.term }
  }

  /** A master announcement (`direct`: from the master itself) or a claim relayed on a probe. */
  protected hearClaim(id: string, term: number, validMs: number, now: number): void {
    if (id === this.ctx.self.id || validMs <= 0 || term < this.maxClaimTerm) return
    const expiresAt = now + Math.min(validMs, this.ctx.config.leaseDurationMs)
    if (this.claim && this.claim.id === id && this.claim.term === term) this.claim.expiresAt = Math.max(this.claim.expiresAt, expiresAt)
    else this.claim = { id, term, expiresAt }
    this.maxClaimTerm = term
    this.terms.observe(term)
  }

  /** The claim to piggyback on a probe: relayed claims carry what is left of them, so they never outlive their source. */
  claimToRelay(now: number): MasterClaim | undefined {
    if (this.left) return undefined
    if (this.isMaster(now)) return { id: this.ctx.self.id, term: this.masterTerm(), ms: this.ctx.config.leaseDurationMs }
    const c = this.claimValid(now)
    if (!c || c.term < this.maxClaimTerm) return undefined
    return { id: c.id, term: c.term, ms: Math.floor(c.expiresAt - now) }
  }

  onRelayedClaim(fromId: string, claim: MasterClaim | undefined, cluster: string | undefined, now: number): void {
    if (!claim || (cluster ?? null) !== this.lineage.cluster) return
    void fromId
    this.hearClaim(claim.id, claim.term, claim.ms, now)
  }

  /** Report master changes (id or term) exactly once each. */
  protected report(now: number): void {
    const cur = this.master(now)
    const prev = this.reported
    if ((cur?.id ?? null) !== (prev?.id ?? null) || (cur?.term ?? null) !== (prev?.term ?? null)) {
      this.reported = cur ? { ...cur } : null
      this.ctx.emit({ type: 'master-changed', master: cur ? { ...cur } : null, previous: prev })
    }
  }

  leave(now: number): void {
    this.stepDown(now, 'leaving', true)
    this.left = true
  }
}

/** quorum=majority: a node is master only while a majority of the voters grant it their lease. */
export class MajorityElection extends ElectionBase {
  private readonly lease: VoterLease
  private readonly held: HeldLeases
  /**
   * A node started without memory (no stored state: a new or wiped data dir) may have promised terms in a previous
   * life. It grants nothing until it has heard the highest term from enough other voters that every majority it
   * could have been part of is covered; `termSources` are the voters heard from so far.
   */
  private amnesiac: boolean
  private readonly termSources = new Set<string>()
  private nextTermPollAt = 0
  /** Config version each voter last reported, so the config is sent only to those behind. */
  private readonly voterVersion = new Map<string, number>()
  private nextLeaseAt: number
  private campaignSince: number | null = null
  private heldTerm = 0
  readonly pendingRemovals = new Set<string>()
  /**
   * A config change the master has sent out but not adopted yet (V2). It keeps counting its mastership under the
   * current config, whose majority it holds, and adopts the proposal once a majority of the proposal granted under
   * it: adopting first would cost the role whenever the new majority is larger than the grants held (1 -> 2 voters).
   * Voters adopt it on receipt (V3); any majority of the two configs share a voter, so both counts are safe.
   */
  private proposed: VoterConfig | null = null

  constructor(ctx: Ctx, membership: Membership, hooks: ElectionHooks, stored: StoredState | undefined, now: number) {
    super(ctx, membership, hooks, stored)
    this.lease = new VoterLease(ctx, this.terms)
    this.held = new HeldLeases(ctx)
    this.amnesiac = stored === undefined
    this.nextLeaseAt = now
  }

  get config(): VoterConfig | null {
    return this.lineage.config
  }

  override nextDeadline(now: number): number {
    if (this.left) return Infinity
    // Before a cluster is born or joined (the cold-start gates), and while amnesiac: at the base rate, for seconds.
    if (this.lineage.cluster === null || this.amnesiac) return now
    const after = this.steppedAt
    // A held grant's or this voter's grant's end changes mastership or the candidate (fenced at once).
    let at = Math.min(super.nextDeadline(now), this.held.nextExpiry(after), this.lease.expiresAt(after))
    // Renewal rounds while campaigning, master, or holding grants to drop (a node that is no candidate drops them).
    if (this.campaignSince !== null || this.wasMaster || !this.held.empty()) at = Math.min(at, this.nextLeaseAt)
    // A voter that left stops counting after one lease (leftForGood), which changes the majority.
    for (const v of this.lineage.config?.voters ?? []) {
      const m = this.ctx.members.get(v)
      if (m?.state !== 'left') continue
      const end = m.since + this.ctx.config.leaseDurationMs * (1 + this.ctx.config.clockDrift)
      if (end > after) at = Math.min(at, end)
    }
    return at
  }

  isVoter(id: string): boolean {
    return this.lineage.config?.voters.includes(id) ?? false
  }

  protected ready(): boolean {
    return this.lineage.cluster !== null && this.lineage.config !== null
  }

  protected masterTerm(): number {
    return this.terms.candidate
  }

  private isMasterRaw(now: number): boolean {
    const cfg = this.lineage.config
    if (!cfg || this.left) return false
    return this.held.majority(cfg, this.votingCount(cfg, now), this.terms.candidate, now)
  }

  isMaster(now: number): boolean {
    return !this.left && this.isMasterRaw(now)
  }

  role(now: number): Role {
    return this.isMaster(now) ? 'master' : this.isVoter(this.ctx.self.id) ? 'voter' : 'member'
  }

  /** A voter hears the master's lease requests every renewal, so its claim is always fresh: no hold (V1b). */
  protected override holdsClaims(): boolean {
    return !this.isVoter(this.ctx.self.id)
  }

  protected protectedHolder(now: number): string | undefined {
    if (this.isMasterRaw(now)) return this.ctx.self.id
    return this.lease.holder(now) ?? this.claimValid(now)?.id
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
    const m = this.ctx.members.get(id)
    return m !== undefined && m.state === 'left' && now - m.since > this.ctx.config.leaseDurationMs * (1 + this.ctx.config.clockDrift)
  }

  quorumView(now: number): QuorumView {
    const voters = (this.lineage.config?.voters ?? []).filter((v) => !this.leftForGood(v, now))
    const visible = voters.filter((v) => this.ctx.isLive(this.ctx.members.get(v))).length
    const need = voters.length > 0 ? needed(voters.length) : 1
    return { has: voters.length > 0 && visible >= need, visible, voting: voters.length, needed: need }
  }

  // ---------------------------------------------------------------- lineage: bootstrap, join, merge

  /** C2: a node without a cluster bootstraps one when the window is over, nobody it sees has one, and it is lowest. */
  private bootstrapIfDue(now: number): void {
    if (this.lineage.cluster !== null || !this.membership.established) return
    const cfg = this.ctx.config
    const gateOpen = cfg.expect > 1 ? this.membership.seen.size >= cfg.expect : now - this.ctx.startedAt >= cfg.discoveryWindowMs
    if (!gateOpen || this.lineage.someoneBorn() || this.candidate(now) !== this.ctx.self.id) return
    const voters = bootstrapVoters(
      this.ctx.live().map((m) => m.id),
      cfg.voters,
    )
    this.lineage.cluster = newClusterId((cfg.wallClockAtStart ?? 0) + (now - this.ctx.startedAt), this.ctx.rng)
    // R7 (trust.ts): every config names its writer, who signs it on the way out.
    this.lineage.config = { version: 1, term: 0, voters: [...voters].sort(compareIds), by: this.ctx.self.id }
    for (const m of this.ctx.live()) this.lineage.heard(m.id, m === this.ctx.self ? this.lineage.cluster : null)
    this.amnesiac = false
    this.ctx.emit({ type: 'cluster-born', clusterId: this.lineage.cluster, voters: [...voters] })
    this.ctx.emit({ type: 'config-changed', config: publicConfig(this.lineage.config) })
    for (const m of this.ctx.liveOthers()) this.hooks.sendSync(m.peer, m.addrs, false)
  }

  onSync(fromPeer: PeerKey, msg: SyncMessage, now: number): void {
    const sender = this.ctx.members.get(msg.from)
    if (!sender || sender.peer !== fromPeer) return
    const before = this.lineage.clusterOfMember(msg.from)
    // Trust R7 (trust.ts), terms: a state exchange's maxTerm counts from a voter of our config, or as merge news
    // (we have no cluster yet, the sender is of another lineage or just came from one, or it names lineages merged
    // into ours that we did not know): those are the honest sources of a term we do not hold. Otherwise a member
    // without a vote could push every node's term, and make the master step down, with each state exchange.
    const mergeNews =
      this.lineage.cluster === null ||
      msg.cluster !== this.lineage.cluster ||
      (before !== undefined && before !== null && before !== msg.cluster) ||
      (msg.retired ?? []).some((id) => id !== this.lineage.cluster && !this.lineage.retired.includes(id))
    this.lineage.heard(msg.from, msg.cluster)
    if (mergeNews || this.isVoter(msg.from)) this.learnTerm(msg.from, fromPeer, msg.maxTerm)
    const remote: LineageView = { cluster: msg.cluster, retired: msg.retired ?? [], config: msg.config }
    if (msg.cluster === null) return
    if (this.lineage.cluster === null) {
      // C2: an existing cluster answered: join it (as a member without a vote until the master adds us).
      this.lineage.join(remote)
      if (msg.config) this.terms.observe(msg.config.term)
      // A wiped voter rejoining: every term heard so far may be one it promised in its previous life.
      if (this.amnesiac && this.isVoter(this.ctx.self.id)) this.terms.raiseFloor(this.terms.maxTerm)
      this.ctx.emit({ type: 'cluster-joined', clusterId: msg.cluster, from: null, reason: 'joined' })
      if (this.lineage.config) this.ctx.emit({ type: 'config-changed', config: publicConfig(this.lineage.config) })
      this.checkAmnesia()
      return
    }
    if (msg.cluster === this.lineage.cluster) {
      // Merge news (a member that came from another lineage, or lineages we did not know were retired): its terms
      // become our promise floor, so no voter here grants a term the absorbed lineage already used (C3).
      const defector = before !== undefined && before !== null && before !== msg.cluster
      if (this.lineage.learnRetired(msg.retired) || defector) {
        this.terms.raiseFloor(msg.maxTerm)
        // The survivor's master moves above every term the absorbed lineage used, equal ones included: two
        // masterships under one term, even of two lineages, would make the fencing token ambiguous (C3, T4).
        if (this.isMasterRaw(now) && msg.maxTerm >= this.terms.candidate) this.stepDown(now, `a merged cluster used term ${msg.maxTerm}`)
      }
      if (msg.config) this.adoptConfig(msg.config)
      return
    }
    // C3: two lineages meet.
    if (survives(remote, this.lineage.view())) this.defect(remote, now)
    else if (msg.reply) this.hooks.sendSync(fromPeer, sender.addrs, false)
  }

  private defect(remote: LineageView, now: number): void {
    const from = this.lineage.cluster
    // The losing side's master steps down first: its masterOnly work is fenced before it joins the survivor.
    this.stepDown(now, `merging into cluster ${remote.cluster}`)
    this.held.clear()
    this.terms.spent = true
    this.claim = null
    this.voterVersion.clear()
    this.pendingRemovals.clear()
    this.lineage.join(remote)
    if (remote.config) this.terms.observe(remote.config.term)
    // Our terms travel with us: as a voter of the survivor (once added) we grant nothing at or below them.
    this.terms.raiseFloor(this.terms.maxTerm)
    this.amnesiac = false
    this.ctx.emit({ type: 'cluster-joined', clusterId: remote.cluster!, from, reason: 'merged' })
    if (this.lineage.config) this.ctx.emit({ type: 'config-changed', config: publicConfig(this.lineage.config) })
    // Tell everyone at once: the rest of our old lineage follows, the survivor learns our terms.
    for (const m of this.ctx.liveOthers()) this.hooks.sendSync(m.peer, m.addrs, false)
  }

  /** V3: adopt a later config of our own lineage. */
  private adoptConfig(c: VoterConfig): void {
    if (!this.lineage.adoptConfig(c)) return
    this.terms.observe(c.term)
    // An amnesiac that finds itself a voter: every term heard so far may be one it promised in a previous life.
    if (this.amnesiac && this.isVoter(this.ctx.self.id)) this.terms.raiseFloor(this.terms.maxTerm)
    this.ctx.emit({ type: 'config-changed', config: publicConfig(this.lineage.config!) })
  }

  // ---------------------------------------------------------------- terms and amnesia

  private learnTerm(from: string, fromPeer: PeerKey, term: number): void {
    this.terms.observe(term)
    if (!this.amnesiac) return
    const m = this.ctx.members.get(from)
    if (!m || m.peer !== fromPeer || from === this.ctx.self.id) return
    this.termSources.add(from)
    // Only a voter of the config in force can have promised a term that matters: a promise made in an earlier
    // config (before this node was removed) is covered by the voters that carried the config on (V2).
    if (this.isVoter(this.ctx.self.id)) this.terms.raiseFloor(term)
    this.checkAmnesia()
  }

  private checkAmnesia(now?: number): void {
    const cfg = this.lineage.config
    if (!this.amnesiac || !cfg) return
    if (now !== undefined && now - this.ctx.startedAt >= this.ctx.config.leaseDurationMs * AMNESIA_WAIT_LEASES) {
      // The voters that could vouch for our old promises are gone (dead, left, cut off). Waiting longer would cost
      // the cluster its master for good; instead promise well above every term heard of, so a term hidden with
      // them is very unlikely to be reused. (Leases cannot overlap either way: a restarted voter granted nothing
      // for a whole lease.)
      this.terms.raiseFloor(Math.max(this.terms.promised, this.terms.maxTerm) + AMNESIA_TERM_JUMP)
      this.amnesiac = false
      return
    }
    const others = cfg.voters.filter((v) => v !== this.ctx.self.id)
    // Every majority that included this node also includes `required` of the others (voters that left since
    // count too: they may have been part of it). When too few can answer, the timeout above applies.
    const required = cfg.voters.length - needed(cfg.voters.length) + 1
    if (!cfg.voters.includes(this.ctx.self.id) || others.length === 0 || others.filter((v) => this.termSources.has(v)).length >= Math.min(required, others.length)) {
      this.amnesiac = false
    }
  }

  /** While amnesiac, ask the voters for their highest term (a state exchange carries it). */
  private pollTerms(now: number): void {
    this.checkAmnesia(now)
    const cfg = this.lineage.config
    if (!this.amnesiac || now < this.nextTermPollAt || !cfg) return
    this.nextTermPollAt = now + this.ctx.config.leaseDurationMs
    for (const m of this.ctx.liveOthers()) if (cfg.voters.includes(m.id) && !this.termSources.has(m.id)) this.hooks.sendSync(m.peer, m.addrs, false)
  }

  // ---------------------------------------------------------------- leases

  /** Why this voter may not grant at all right now, or null. */
  private blocked(reqCluster: string, reqVersion: number, now: number): Refusal | null {
    const cfg = this.lineage.config
    if (!cfg || !cfg.voters.includes(this.ctx.self.id)) return 'not-voter'
    if (reqCluster !== this.lineage.cluster) return 'other-cluster'
    // L1: a restarted voter has forgotten whom it granted: it lets any grant of its previous run expire first,
    // and, without memory of its terms, learns the highest term from enough other voters.
    if (now - this.ctx.startedAt < this.ctx.config.leaseDurationMs || this.amnesiac) return 'bound'
    if (reqVersion < cfg.version) return 'stale-config'
    return null
  }

  private decide(from: string, cluster: string, term: number, configVersion: number, now: number): Decision {
    return this.lease.decide(from, term, this.blocked(cluster, configVersion, now), this.candidate(now), now)
  }

  tick(now: number, periodic: boolean): void {
    if (this.left) return
    this.steppedAt = now
    if (periodic) {
      this.pollTerms(now)
      this.bootstrapIfDue(now)
    }
    const iAmCandidate = this.ready() && this.candidate(now) === this.ctx.self.id
    if (this.isMasterRaw(now)) {
      // T4/T5: a master that hears of a higher term than its own (a merged lineage's, a recovery's) steps down and
      // campaigns above it, so no term is ever held by two masterships.
      if (this.terms.maxTerm > this.terms.candidate) this.stepDown(now, `a higher term ${this.terms.maxTerm} exists`)
      // A lower id has become eligible: hand over by letting the leases run out (no release: work is fenced first).
      else if (!iAmCandidate) this.stepDown(now, 'a lower id is eligible')
    }
    if (!iAmCandidate || this.isMasterRaw(now)) this.campaignSince = null
    else if (this.campaignSince === null) {
      this.campaignSince = now
      this.nextLeaseAt = now
    }
    if (periodic && now >= this.nextLeaseAt) {
      // Ask often for the first seconds of a campaign (a failover waits on it), then at the renewal pace.
      const fast = this.campaignSince !== null && now - this.campaignSince < this.ctx.config.leaseDurationMs * 3
      this.nextLeaseAt = now + (fast ? Math.min(this.ctx.config.leaseRenewMs, 100) : this.ctx.config.leaseRenewMs)
      if (iAmCandidate) this.requestLeases(now)
      else this.held.clear()
    }
    this.updateMasterState(now)
  }

  private requestLeases(now: number): void {
    const master = this.isMasterRaw(now)
    const t = this.terms
    // T5: a spent term is never held again; a campaign with no grant below a term someone else knows moves above it.
    if (!master && (t.spent || t.candidate === 0 || (t.candidate <= t.maxTerm && !this.held.any(t.candidate)))) {
      t.campaign(t.next())
      this.held.clear()
    }
    if (master) this.changeConfigIfDue(now)
    else this.proposed = null
    const cfg = this.lineage.config!
    // What the voters are asked under: the proposal while one is out, else the config in force.
    const asked = this.proposed ?? cfg
    const cluster = this.lineage.cluster!
    const seq = this.ctx.nextSeq()
    this.held.asked(seq, now)
    // Our own vote follows the same rule as everyone else's.
    if (cfg.voters.includes(this.ctx.self.id) || asked.voters.includes(this.ctx.self.id)) {
      const d = this.decide(this.ctx.self.id, cluster, t.candidate, asked.version, now)
      if (!d.granted && d.reason === 'stale-term' && !master) {
        // Our own promise is above the campaign's term (e.g. after an amnesiac's jump): campaign above it.
        t.campaign(t.next())
        this.held.clear()
        this.nextLeaseAt = now
        return
      }
      if (d.granted) this.held.record(this.ctx.self.id, t.candidate, now + this.held.share(this.ctx.config.leaseDurationMs), asked.version)
    }
    // Only voters are asked: the master's lease traffic is O(voters) (V1). Members without a vote learn the master
    // from the claims piggybacked on probes.
    for (const m of this.ctx.liveOthers()) {
      if (!cfg.voters.includes(m.id) && !asked.voters.includes(m.id)) continue
      const msg: Extract<Message, { t: 'lease-req' }> = { t: 'lease-req', from: this.ctx.self.id, seq, cluster, term: t.candidate, master, configVersion: asked.version }
      if ((this.voterVersion.get(m.id) ?? -1) < asked.version) msg.config = asked
      this.ctx.send(m.peer, msg, m.addrs)
    }
  }

  /** V2: one voter change at a time, and only once a majority has acknowledged the current config. */
  private changeConfigIfDue(now: number): boolean {
    const cfg = this.lineage.config!
    if (this.proposed) {
      // Adopt the proposal once a majority of it granted under it (see `proposed`).
      if (this.held.acknowledged(this.proposed, now) < needed(this.votingCount(this.proposed, now))) return false
      const p = this.proposed
      this.proposed = null
      this.adoptConfig(p)
      return true
    }
    if (this.held.acknowledged(cfg, now) < needed(this.votingCount(cfg, now))) return false
    const change = nextChange({
      config: cfg,
      members: this.ctx.members,
      selfId: this.ctx.self.id,
      cap: this.ctx.config.voters,
      now,
      stabilityWindowMs: this.ctx.config.stabilityWindowMs,
      voterDeadAfterMs: this.ctx.config.voterDeadAfterMs,
      sameLineage: (id) => this.lineage.sameLineage(id),
      pendingRemovals: this.pendingRemovals,
    })
    for (const id of [...this.pendingRemovals]) if (!cfg.voters.includes(id)) this.pendingRemovals.delete(id)
    if (!change) return false
    this.proposed = { version: cfg.version + 1, term: this.terms.candidate, voters: [...change.voters].sort(compareIds), by: this.ctx.self.id }
    for (const v of change.voters) if (!cfg.voters.includes(v)) this.voterVersion.delete(v)
    return true
  }

  onLeaseRequest(fromPeer: PeerKey, msg: Extract<Message, { t: 'lease-req' }>, now: number): void {
    const sender = this.ctx.members.get(msg.from)
    if (!sender || sender.peer !== fromPeer) return
    this.lineage.heard(msg.from, msg.cluster)
    if (msg.cluster !== this.lineage.cluster) {
      // Another lineage: its grants never count here (L1). A state exchange settles which lineage survives (C3).
      if (this.lineage.cluster !== null) this.ctx.send(fromPeer, this.ack(msg, { granted: false, reason: 'other-cluster' }), sender.addrs)
      this.hooks.sendSync(fromPeer, sender.addrs, false)
      return
    }
    // Trust R6 (trust.ts): a config change, and a master announcement, count only from the node this one would
    // make master (the lowest eligible id, or the holder of its grant): any other member may ask, but not write.
    const entitled = this.candidate(now) === msg.from || this.lease.holder(now) === msg.from
    if (msg.config && entitled) this.adoptConfig(msg.config)
    if (msg.master && entitled) this.hearClaim(msg.from, msg.term, this.ctx.config.leaseDurationMs, now)
    const cfg = this.lineage.config
    // Non-voters only listen to the announcement.
    if (!cfg || !cfg.voters.includes(this.ctx.self.id)) {
      if (!msg.master && cfg) this.ctx.send(fromPeer, this.ack(msg, { granted: false, reason: 'not-voter' }, cfg))
      return
    }
    const d = this.decide(msg.from, msg.cluster, msg.term, msg.configVersion, now)
    this.ctx.send(fromPeer, this.ack(msg, d, msg.configVersion !== cfg.version ? cfg : undefined), sender.addrs)
  }

  private ack(req: Extract<Message, { t: 'lease-req' }>, d: Decision, cfg?: VoterConfig): Message {
    const ack: Extract<Message, { t: 'lease-ack' }> = {
      t: 'lease-ack',
      from: this.ctx.self.id,
      seq: req.seq,
      cluster: this.lineage.cluster,
      term: req.term,
      granted: d.granted,
      durationMs: this.ctx.config.leaseDurationMs,
      maxTerm: this.terms.maxTerm,
      configVersion: this.lineage.config?.version ?? 0,
    }
    if (d.reason) ack.reason = d.reason
    if (d.holder !== undefined) ack.holder = d.holder
    if (cfg) ack.config = cfg
    return ack
  }

  onLeaseAck(msg: Extract<Message, { t: 'lease-ack' }>, now: number): void {
    this.lineage.heard(msg.from, msg.cluster)
    if (msg.cluster !== this.lineage.cluster) return
    if (msg.config) this.adoptConfig(msg.config)
    this.voterVersion.set(msg.from, msg.configVersion)
    const sentAt = this.held.sentAt(msg.seq)
    const wasMaster = this.isMasterRaw(now)
    const t = this.terms
    if (msg.granted && sentAt !== undefined && msg.term === t.candidate && !t.spent) {
      // L2: the voter's lease started no earlier than our request left; shorten it by the drift bound and the fence.
      this.held.record(msg.from, msg.term, sentAt + this.held.share(msg.durationMs), msg.configVersion)
    }
    const sender = this.ctx.members.get(msg.from)
    if (sender) this.learnTerm(msg.from, sender.peer, msg.maxTerm)
    if (!msg.granted && msg.reason === 'stale-term' && !wasMaster && msg.maxTerm >= t.candidate) {
      t.campaign(t.next())
      this.held.clear()
    }
    // A config change acknowledged by a majority: make the next one at once (a cold cluster fills its voters in a
    // few round trips, not one change per renewal period).
    if (wasMaster && this.isMasterRaw(now) && msg.granted && this.changeConfigIfDue(now)) this.requestLeases(now)
  }

  onRelease(msg: Extract<Message, { t: 'lease-release' }>): void {
    this.lease.release(msg.from, msg.term)
    if (this.claim && this.claim.id === msg.from) this.claim = null
  }

  /**
   * Stop being master. `release` (on a graceful leave, after the agent stopped its work) frees the voters'
   * grants at once for a fast hand-over. A hand-over to a lower id does not release: the grants run out
   * first, which gives this node's masterOnly work time to be stopped before the next master can start.
   */
  stepDown(now: number, reason: string, release = false): void {
    const master = this.isMasterRaw(now)
    const term = this.terms.candidate
    this.held.clear()
    this.proposed = null
    this.terms.spent = true
    if (release) this.lease.release(this.ctx.self.id, term)
    if (master || this.wasMaster) {
      this.wasMaster = false
      this.ctx.emit({ type: 'stepped-down', term, reason })
      if (release) {
        for (const m of this.ctx.liveOthers()) if (this.isVoter(m.id)) this.ctx.send(m.peer, { t: 'lease-release', from: this.ctx.self.id, term })
      }
    }
  }

  private updateMasterState(now: number): void {
    const master = this.isMasterRaw(now)
    if (master && !this.wasMaster) {
      this.wasMaster = true
      this.heldTerm = this.terms.candidate
      this.terms.observe(this.terms.candidate)
      this.maxClaimTerm = Math.max(this.maxClaimTerm, this.terms.candidate)
      invariant(this.terms.candidate <= this.terms.maxTerm, 'T4: mastership term above maxTerm')
      this.ctx.emit({ type: 'became-master', term: this.terms.candidate })
    } else if (!master && this.wasMaster) {
      this.wasMaster = false
      // T5: the term is spent: a late grant for it must not revive this mastership (its work was fenced), so
      // the grants are dropped and the next campaign asks for a new term.
      this.terms.spent = true
      this.held.clear()
      this.ctx.emit({ type: 'stepped-down', term: this.heldTerm, reason: 'lost the majority of leases' })
    }
    this.report(now)
  }

  // ---------------------------------------------------------------- operator actions

  /** Drop a dead or left member so it stops voting. Carried out by the master; others forward it there. */
  remove(id: string, now: number): RemoveResult {
    const m = this.ctx.members.get(id)
    if (id === this.ctx.self.id) return { ok: false, error: 'a node cannot remove itself; use leave' }
    if (!m && !this.isVoter(id)) return { ok: false, error: `unknown member "${id}"` }
    if (m && this.ctx.isLive(m)) return { ok: false, error: `member "${id}" is ${m.state}; only dead or left members can be removed` }
    if (!this.isVoter(id)) {
      this.membership.drop(id)
      return { ok: true }
    }
    if (this.isMaster(now)) {
      this.pendingRemovals.add(id)
      this.tick(now, false)
      return { ok: true }
    }
    const master = this.master(now)
    const mm = master ? this.ctx.members.get(master.id) : undefined
    if (!master || !mm) {
      const q = this.quorumView(now)
      return {
        ok: false,
        error: `no master to carry out the removal (${q.visible} of ${q.voting} voting members visible, ${q.needed} needed); if the majority of the voters is gone for good, use \`conclave recover\``,
      }
    }
    this.ctx.send(mm.peer, { t: 'remove', from: this.ctx.self.id, id })
    return { ok: true }
  }

  /** A forwarded removal: only a master acts on it. */
  onRemove(id: string, now: number): void {
    if (this.isMaster(now)) void this.remove(id, now)
  }

  /**
   * Recovery of a cluster that lost the majority of its voters for good (etcd's --force-new-cluster, Consul's
   * peers.json): the named survivors become the voters, under a config version and a term above everything
   * known. Refused while a majority of the current voters is visible: then `remove` is the safe tool. If the
   * "lost" voters are in fact alive behind a partition, they keep their own majority: that is the operator's
   * risk to rule out, as with etcd and Consul.
   */
  recover(voters: string[], now: number): RemoveResult {
    const cfg = this.lineage.config
    if (this.lineage.cluster === null || !cfg) return { ok: false, error: 'this node is not in a cluster yet' }
    const q = this.quorumView(now)
    if (q.has) return { ok: false, error: `${q.visible} of ${q.voting} voters are visible (${q.needed} needed): the cluster has its majority, recovery is refused; use \`conclave remove\` for dead members` }
    const unique = [...new Set(voters)]
    if (unique.length === 0) return { ok: false, error: 'name at least one surviving voter' }
    for (const id of unique) {
      const m = this.ctx.members.get(id)
      if (!this.ctx.isLive(m)) return { ok: false, error: `"${id}" is ${m ? m.state : 'not a member'}: name only live members` }
    }
    this.stepDown(now, 'recovery')
    const term = Math.max(this.terms.maxTerm, this.terms.promised) + RECOVERY_JUMP
    this.terms.raiseFloor(term)
    this.amnesiac = false
    this.lineage.config = { version: cfg.version + RECOVERY_JUMP, term, voters: [...unique].sort(compareIds), by: this.ctx.self.id }
    this.lineage.adoptConfig(this.lineage.config)
    this.pendingRemovals.clear()
    this.voterVersion.clear()
    this.ctx.emit({ type: 'cluster-joined', clusterId: this.lineage.cluster, from: this.lineage.cluster, reason: 'recovered' })
    this.ctx.emit({ type: 'config-changed', config: publicConfig(this.lineage.config) })
    for (const m of this.ctx.liveOthers()) this.hooks.sendSync(m.peer, m.addrs, false)
    return { ok: true }
  }
}

export function copyConfig(c: VoterConfig): VoterConfig {
  return { ...c, voters: [...c.voters] }
}

/** A config as events report it (logs, SSE, hooks): without its signature (R7), which only the wire needs. */
export function publicConfig(c: VoterConfig): VoterConfig {
  const { sig: _sig, ...rest } = c
  void _sig
  return { ...rest, voters: [...c.voters] }
}
