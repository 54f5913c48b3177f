// The member table and its dissemination: SWIM's gossip merge rules (incarnations, refutation), piggybacked and
// broadcast updates, full-state exchange (paged below the message limit), suspicion verdicts and reaping.
//
// Verdicts a sick node cannot poison (issue 13, docs/membership.md):
//   M1  A node that cannot hear does not accuse: a probe none of whose helpers answered is evidence against this
//       node, not the target, and after DEAF_PROBES such probes in a row it ends no suspicion either until something
//       answers again (probes.ts, health.ts).
//   M2  A member whose probe this node saw answered after its suspicion began is not declared dead here: the
//       suspicion is told to the member, which refutes it.
//   M3  Dead rests on this node's own evidence: a suspicion's timeout ends in a verdict only if this node's own
//       probe of the member failed (with its helpers' nacks); a verdict heard second-hand about a member this node
//       holds live becomes a suspicion here and a probe of its own, and the verdict follows the probe's failure.
//   F1  A member declared dead twice, or suspected FLAP_REFUTES times, within FLAP_WINDOW_MS while it was unwell
//       itself (a sick accuser must not drive a healthy member out), is flapping: it refutes nothing more and
//       answers no probe until none of its own probes failed for FLAP_HOLD_MS, so observers see it removed and
//       re-admitted once per fault instead of once per flap.
//   F2  The observer's side of the same: a dead member's return is taken only on this node's own evidence. The
//       first one waits until the member answers READMIT_ANSWERS probes of this node's sent back to back, if the
//       latest was not answered (a node that cannot hear refutes through the others while every probe of it fails,
//       and answers one now and then); after READMIT_HOLD_REMOVALS
//       removals within FLAP_WINDOW_MS, until it has answered every probe of this node's for FLAP_HOLD_MS (Rapid's
//       stable view changes). F1 rests on the subject knowing it is sick, which a node losing 80% of what it receives may not:
//       TCP redelivers most of its acks in time, so its Lifeguard score can stay at 0.

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

/** F1: deaths of this node within this window make it a flapping member (Serf's and Rapid's runs flap every 10 s). */
export const FLAP_WINDOW_MS = 60_000
/**
 * F1: refutations within FLAP_WINDOW_MS that make this node a flapping member. A healthy member under 20% loss on
 * every link refuted at most 7 suspicions in 100 s (simulator, 5-15 nodes); one that loses 80% of what it receives
 * refutes about one a second.
 */
export const FLAP_REFUTES = 6
/** F1: how long a flapping member must be well before it asks to be re-admitted: longer than one 10 s flap. */
export const FLAP_HOLD_MS = 12_000
/**
 * F2: removals of one member in this node's view, within FLAP_WINDOW_MS, after which its next return waits for
 * FLAP_HOLD_MS of answered probes. Two: the first removal may be a partition that heals, whose return must be seen
 * within 0.5 s (it waits only for one answered probe); a second within the minute is a flapping member (Serf's and
 * Rapid's runs flap every 10 s).
 */
export const READMIT_HOLD_REMOVALS = 2
/**
 * F2: answers to probes sent back to back (each as the previous one is answered or missed) that take a first return
 * held until answered, with at most READMIT_MISSES misses among them. Through 80% ingress loss a probe is answered
 * one time in five (the first send gets through; the count's short timeouts make an answer that TCP retransmitted a
 * miss), and an observer that holds the node tries about 60 times in a 30 s fault. With two answers in a row, every
 * observer of a CI run (87f7155) re-admitted the node once during the fault and removed it again. Sixteen answers
 * before a third miss: C(18,2)·0.2¹⁶·0.8² ≈ 6·10⁻¹⁰ a try (5·10⁻⁶ even if 36% got through in time), while a healed
 * link pays 16 round trips (milliseconds on a LAN) and loses the count only to three lost messages out of ~18 (0.7%
 * at 1% loss each way).
 */
export const READMIT_ANSWERS = 16
/** F2: misses forgiven within one count of READMIT_ANSWERS (a lost message on a healthy link). */
export const READMIT_MISSES = 2
/**
 * F2: shortest wait for an answer within the count: two core ticks of 50 ms, so a loaded host's jitter is not a
 * miss. Above it the wait is 4 times the count's mean round trip so far (the simulator's is ~4 ms), below the
 * 200 ms after which TCP first retransmits.
 */
export const READMIT_PROBE_MIN_TIMEOUT_MS = 100
/**
 * F1: claims refuted this soon after the process started do not count. A cold start is not a flaky link: agents
 * dial each other, lineages merge and first probes fail for the first few seconds. Seen at 10 agents: a suspicion
 * refuted 4 s after start, and a single isolation 30 s later held the node out for 12 s as flapping.
 */
export const F1_STARTUP_GRACE_MS = 10_000
/** F1: a claim refuted this soon after a deaf spell counts as a death (a 5 s spell is one the others notice). */
const DEAF_AFTERMATH_MS = 5_000
/** At most one full state exchange per this long with a member we hold gone that pings or answers us. */
const GONE_SYNC_MS = 1_000

/**
 * F2: a return held back, and what releases it: READMIT_ANSWERS answers to probes sent back to back, or FLAP_HOLD_MS
 * without an unanswered probe.
 */
type HeldReadmission = { update: MemberUpdate; until: 'quiet' } | ({ update: MemberUpdate; until: 'answered' } & AnswerCount)

/** F2's count of answers, for a return held until answered. */
interface AnswerCount {
  /** When this node last probed the member for it. */
  probedAt: number
  /** Answers and misses so far, when the last answer and miss counted came, and the sum of the answers' round trips. */
  answers: number
  misses: number
  countedAckAt: number
  countedMissAt: number
  rttSumMs: number
}

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
  /** M3: members with a second-hand dead verdict this node is checking with a probe of its own (id -> incarnation). */
  private readonly doubted = new Map<string, number>()
  /** M3: suspects whose timeout ran out while this node's own probe had not answered yet. */
  private readonly awaiting = new Set<string>()
  /** F1: local times this node learned of a verdict of its own death, and the refutation it holds back. */
  private deaths: number[] = []
  private refutes: number[] = []
  private countedSpell = -Infinity
  private heldReturn: { incarnation: number; since: number } | null = null
  /** F2: local times this node's view moved each member into dead (within FLAP_WINDOW_MS). */
  private readonly removedAt = new Map<string, number[]>()
  /** F2: returns this node holds back: the member's latest claim. */
  private readonly heldReadmit = new Map<string, HeldReadmission>()
  /** F2: the member whose held claim readmit() is merging right now. */
  private readmitting: string | null = null
  private nextRemovalPrune = 0
  private readonly goneSyncAt = new Map<string, number>()
  private readonly digestSyncAt = new Map<string, number>()

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
    if ((u.state === 'alive' || u.state === 'suspect') && m.state === 'dead' && this.holdReadmission(m, u, now)) return
    if (u.state === 'dead' && ctx.isLive(m) && u.by !== ctx.self.id && !this.prober.failedSince(m.id, now - this.suspicions.longest())) {
      this.doubt(m, u, now)
      return
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

  /**
   * M3: another member's verdict that `m` is dead, while this node holds it live and has no failed probe of its own:
   * hold it as a suspicion (the accuser's word counts as a confirmation) and probe `m` now. The verdict follows if
   * that probe fails; an answer means `m` and this node can talk, and the ping told `m` of its suspicion.
   */
  private doubt(m: Member, u: MemberUpdate, now: number): void {
    this.doubted.set(m.id, Math.max(u.incarnation, this.doubted.get(m.id) ?? 0))
    if (m.state === 'alive' || u.incarnation > m.incarnation) {
      m.incarnation = u.incarnation
      m.by = u.by ?? '?'
      this.setState(m, 'suspect', now)
      this.suspicions.start(m, m.by, now)
      this.relay(this.updateOf(m), false)
    } else if (u.by !== undefined) {
      this.suspicions.confirm(m.id, u.by)
    }
    if (!this.prober.probing(m.id)) this.prober.start(m, now, false)
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
    // F1: while a flapping node holds its return, no claim about it is refuted (a suspicion would re-admit it too).
    if (this.holdReturn(u, now)) return
    this.refute(u, now)
  }

  /**
   * F1: a claim this node must refute. The first death within FLAP_WINDOW_MS is refuted at once (a healed partition
   * must be seen within 0.5 s), and so are suspicions; from the second death, or the FLAP_REFUTES-th refutation, on
   * this node is flapping, and it stays out until it has been well for FLAP_HOLD_MS (releaseReturn, every tick).
   */
  private holdReturn(u: MemberUpdate, now: number): boolean {
    if (this.heldReturn) {
      this.heldReturn.incarnation = Math.max(this.heldReturn.incarnation, u.incarnation)
      return true
    }
    // Only claims that found this node unwell count (its probes failing, or deaf): a healthy member that a sick one
    // accuses again and again (a node losing 80% of what it hears) must not take itself out. Its observers bound
    // how often they re-admit it instead (F2, holdReadmission).
    if (this.health.score === 0 && !this.health.holding) return false
    if (now - this.ctx.startedAt < F1_STARTUP_GRACE_MS) return false
    this.refutes = this.refutes.filter((t) => now - t < FLAP_WINDOW_MS)
    this.refutes.push(now)
    // A death, or the first claim refuted within DEAF_AFTERMATH_MS of a deaf spell: the others had this node dead or
    // about to be, whichever of their claims reaches it first (a suspicion often does).
    const spell = this.health.deafEndedAt
    const afterDeaf = now - spell < DEAF_AFTERMATH_MS && this.countedSpell !== spell
    if (u.state === 'dead' || afterDeaf) {
      if (afterDeaf) this.countedSpell = spell
      this.deaths = this.deaths.filter((t) => now - t < FLAP_WINDOW_MS)
      this.deaths.push(now)
    }
    // Flapping: died twice, or died after refuting a suspicion while unwell (a lossy NIC: its first death already
    // follows suspicions; a healed partition's first claim is its only one), or suspected over and over.
    const died = u.state === 'dead' || afterDeaf
    const flapping = this.deaths.length >= 2 || (died && this.refutes.length >= 2) || this.refutes.length >= FLAP_REFUTES
    if (!flapping) return false
    this.heldReturn = { incarnation: u.incarnation, since: now }
    this.health.held = true
    this.ctx.emit({ type: 'flapping', heldMs: FLAP_HOLD_MS })
    return true
  }

  /**
   * F2: hold back a dead member's return. After READMIT_HOLD_REMOVALS removals within the window, until it has been
   * quiet for FLAP_HOLD_MS; before, until a probe of this node's is answered, if its latest one was not.
   */
  private holdReadmission(m: Member, u: MemberUpdate, now: number): boolean {
    // The claim a hold releases (readmit) is merged, not held again.
    if (this.readmitting === m.id) return false
    const held = this.heldReadmit.get(m.id)
    if (held) {
      if (u.incarnation >= held.update.incarnation) held.update = { ...u, addrs: [...u.addrs] }
      return true
    }
    // A new process (another boot nonce: a restart) is not a flap.
    if (u.boot !== undefined && m.boot !== undefined && u.boot !== m.boot) return false
    // Only a well observer judges (as M1): one whose own probes fail for want of CPU or network would hold members
    // out for its own misses (30 agents started at once on 2 cores did not form while starved observers held).
    if (!this.observerWell(m.id, now)) return false
    const removals = (this.removedAt.get(m.id) ?? []).filter((t) => now - t < FLAP_WINDOW_MS)
    if (removals.length >= READMIT_HOLD_REMOVALS) {
      if (this.answersEverything(m.id, now)) return false
      this.heldReadmit.set(m.id, { update: { ...u, addrs: [...u.addrs] }, until: 'quiet' })
      this.ctx.emit({ type: 'readmission-held', id: m.id, until: 'quiet', heldMs: FLAP_HOLD_MS })
      return true
    }
    // The first return. Across a healed partition this node's re-probe is answered first (its answer is what asks the
    // member to refute), or at once when asked. A member that cannot hear (80% ingress loss) refutes through the
    // others while every probe of it still fails (no probe of one observer's was answered in 30 s of that fault), or
    // after one of them slipped through: that answer is the first of the count, not a verdict (the simulator's fault
    // matrix, 30 seeds: 5 of 60 runs had an observer take the node back twice on such single answers).
    const r = this.prober.record(m.id)
    const answered = !this.unanswered(m.id)
    this.heldReadmit.set(m.id, {
      update: { ...u, addrs: [...u.addrs] },
      until: 'answered',
      probedAt: now,
      answers: answered ? 1 : 0,
      misses: 0,
      countedAckAt: answered ? r.ackAt : now,
      countedMissAt: now,
      rttSumMs: answered ? r.ackRttMs : 0,
    })
    if (answered) {
      // Answered already: the rest of the count, at once (milliseconds across a healed link), and nothing to warn of.
      this.prober.start(m, now, true, this.countTimeout(r.ackRttMs))
      return true
    }
    this.ctx.emit({ type: 'readmission-held', id: m.id, until: 'answered', answers: READMIT_ANSWERS })
    // A new probe even if one is out: that one may have been sent into the partition before it healed.
    this.prober.confirm(m, now)
    return true
  }

  /** F2: how long a probe of the count waits: 4 times the count's mean round trip, within its bounds. */
  private countTimeout(meanRttMs: number): number {
    return Math.min(this.ctx.config.probeTimeoutMs, Math.max(READMIT_PROBE_MIN_TIMEOUT_MS, 4 * meanRttMs))
  }

  /** F2: this node's latest probe of `id` went unanswered. */
  private unanswered(id: string): boolean {
    const r = this.prober.record(id)
    return r.missAt > r.ackAt
  }

  /**
   * F2, every tick: a held member that answers again (probes.ts re-probes it as gone meanwhile, and a member held
   * until answered is probed every probe interval as well) is taken back with its latest claim, and so is every held
   * member once this node is unwell itself (its misses may be its own). One that left this node's table, or is no
   * longer dead here, leaves the hold.
   */
  releaseReadmissions(now: number): void {
    if (now >= this.nextRemovalPrune) {
      this.nextRemovalPrune = now + FLAP_WINDOW_MS
      for (const [id, times] of this.removedAt) if (times.every((t) => now - t >= FLAP_WINDOW_MS)) this.removedAt.delete(id)
    }
    for (const [id, h] of this.heldReadmit) {
      const m = this.ctx.members.get(id)
      if (!m || m.state !== 'dead') {
        this.heldReadmit.delete(id)
        continue
      }
      if (!this.observerWell(id, now)) this.readmit(m, h, now)
      else if (h.until === 'quiet') {
        if (this.answersEverything(id, now)) this.readmit(m, h, now)
      } else if (this.answeredInARow(m, h, now)) this.readmit(m, h, now)
      else if (h.answers === 0 && now - h.probedAt >= this.ctx.config.probeIntervalMs && !this.prober.probing(id)) {
        // No answer counted yet: re-probed, directly and through helpers, every probe interval until one comes.
        h.probedAt = now
        this.prober.confirm(m, now)
      }
    }
  }

  /**
   * F2: a return held until answered is taken on READMIT_ANSWERS answers to probes sent back to back: each answer,
   * and each miss, sends the next probe at once, and more than READMIT_MISSES misses start the count again. A probe
   * of the count waits for its answer 4 times the count's mean round trip so far (at least
   * READMIT_PROBE_MIN_TIMEOUT_MS, at most the probe timeout): over TCP, an answer TCP had to retransmit through the
   * loss (200 ms and more) is a miss, and one lost message on a healthy link costs tens of milliseconds, not a probe
   * timeout and a probe interval (seen in the simulator with 1% loss: 0.6 s). A healed partition answers them all; a
   * node that hears one probe in five does not (one answer slipped through 80% ingress loss and re-admitted it 1.5 s
   * into the fault, to be removed again 0.9 s later).
   */
  private answeredInARow(m: Member, h: AnswerCount, now: number): boolean {
    const r = this.prober.record(m.id)
    let next = false
    // A miss of a probe sent since the last answer counted. One sent before (into the partition, before it healed)
    // that times out after the answers began says nothing of the link now.
    if (h.answers > 0 && r.missAt > h.countedMissAt && r.missSentAt >= h.countedAckAt) {
      h.countedMissAt = r.missAt
      if (++h.misses > READMIT_MISSES) {
        h.answers = 0
        h.misses = 0
        h.rttSumMs = 0
      } else next = true
    }
    if (r.ackAt > h.countedAckAt) {
      h.answers++
      h.countedAckAt = r.ackAt
      h.rttSumMs += r.ackRttMs
      if (h.answers >= READMIT_ANSWERS) return true
      next = true
    }
    if (next) {
      // The next probe now, even if an older one is still out: that one went into the fault.
      h.probedAt = now
      this.prober.start(m, now, true, this.countTimeout(h.rttSumMs / h.answers))
    }
    return false
  }

  /** A gone member answered a re-probe: a return held until answered may be taken (F2), else a state exchange asks for it. */
  revived(m: Member, now: number): void {
    const h = this.heldReadmit.get(m.id)
    if (!h || h.until !== 'answered') this.syncGone(m.peer, m.addrs, now)
    else if (this.answeredInARow(m, h, now)) this.readmit(m, h, now)
  }

  private readmit(m: Member, h: HeldReadmission, now: number): void {
    this.heldReadmit.delete(m.id)
    if (h.until === 'quiet') this.removedAt.delete(m.id)
    this.readmitting = m.id
    try {
      this.merge(h.update, now, true)
    } finally {
      this.readmitting = null
    }
    // The claim held may be older than a verdict heard since (dead at its incarnation): ask for a fresh one, which
    // the member gives by refuting the verdict our state exchange shows it.
    if (m.state === 'dead') this.syncGone(m.peer, m.addrs, now)
  }

  /**
   * F2's test of "healthy for a while": none of this node's probes of `id` went unanswered for FLAP_HOLD_MS, and
   * one was answered within the last two re-probes of the gone. Measured from the last miss, not from when the hold
   * began: a member that held itself out (F1) answered the re-probes meanwhile and is not held a second time.
   */
  private answersEverything(id: string, now: number): boolean {
    const r = this.prober.record(id)
    return now - r.missAt >= FLAP_HOLD_MS && now - r.ackAt <= 2 * this.ctx.config.deadProbeIntervalMs
  }

  /**
   * F2: this node may judge `id` by its own misses: no Lifeguard score, not deaf, and every probe of every other
   * member answered for FLAP_HOLD_MS. The misses then single `id` out (a node with 80% ingress loss); on a starved
   * host, or across a partition, they do not, and nobody is held.
   */
  private observerWell(id: string, now: number): boolean {
    return this.health.score === 0 && !this.health.holding && !this.prober.missedOtherSince(id, now - FLAP_HOLD_MS)
  }

  /** F1: this node is flapping and stays out for now. */
  get returnHeld(): boolean {
    return this.heldReturn !== null
  }

  /** F1: a flapping node whose probes all succeeded for FLAP_HOLD_MS refutes its death and pushes its state. */
  releaseReturn(now: number): void {
    const h = this.heldReturn
    if (!h || now - h.since < FLAP_HOLD_MS || this.health.quietFor(now) < FLAP_HOLD_MS) return
    // Quiet must mean heard: a probe answered within the last two intervals, not merely none failed yet.
    if (this.health.answeredAgo(now) > 2 * this.ctx.config.probeIntervalMs) return
    this.heldReturn = null
    this.health.held = false
    this.deaths = []
    this.refutes = []
    const self = this.ctx.self
    this.refute({ ...this.updateOf(self), incarnation: Math.max(h.incarnation, self.incarnation), state: 'dead' }, now)
  }

  /** Refute a claim about this node at its incarnation or above by raising the incarnation, and tell others at once. */
  private refute(u: MemberUpdate, now: number): void {
    // Back from the dead: the others held this node gone, maybe across a partition that just healed.
    if (u.state === 'dead' || u.state === 'left') this.ctx.reconnecting(() => this.refuteNow(u, now))
    else this.refuteNow(u, now)
  }

  private refuteNow(u: MemberUpdate, now: number): void {
    const ctx = this.ctx
    const self = ctx.self
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
    // Back from the dead: push our whole state to two members (they answer with theirs), so what changed while we
    // were out (our return included) is exchanged at once, not at the next periodic exchange.
    if (u.state === 'dead' || u.state === 'left') {
      const live = ctx.liveOthers()
      const pool = live.length > 0 ? live : [...ctx.members.values()].filter((m) => m !== self && m.state === 'dead')
      for (const t of ctx.pick(pool, 2)) this.sendSync(t.peer, t.addrs, false)
    }
    this.hooks.peersChanged()
  }

  /**
   * This node was deaf and hears again (M1): the others may have declared it dead meanwhile and re-probe it only now
   * and then, so it pushes its state to two members itself; their answers carry any verdict, which it then refutes.
   */
  pushState(now: number): void {
    this.ctx.reconnecting(() => {
      for (const t of this.ctx.pick(this.ctx.liveOthers(), 2)) this.syncGone(t.peer, t.addrs, now)
    })
  }

  /** A member we hold gone pinged or answered us: exchange full state, at most once per GONE_SYNC_MS. */
  syncGone(peer: PeerKey, addrs: string[], now: number): void {
    if (now - (this.goneSyncAt.get(peer) ?? -Infinity) < GONE_SYNC_MS) return
    this.goneSyncAt.set(peer, now)
    this.sendSync(peer, addrs, false)
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
    if (state === 'dead' && (previous === 'alive' || previous === 'suspect')) {
      const times = (this.removedAt.get(m.id) ?? []).filter((t) => now - t < FLAP_WINDOW_MS)
      times.push(now)
      this.removedAt.set(m.id, times)
    }
    if ((state === 'alive' || state === 'suspect') && (previous === 'dead' || previous === 'left')) {
      m.aliveSince = now
      this.prober.insert(m.id)
    }
    if (state !== 'suspect') {
      this.suspicions.clear(m.id)
      this.doubted.delete(m.id)
      this.awaiting.delete(m.id)
    }
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
    } else if (m.state === 'suspect') {
      // M3: a verdict that waited for this node's own evidence (a second-hand one, or a timeout that ran out) has it now.
      if ((this.doubted.get(m.id) ?? -1) >= m.incarnation || this.awaiting.has(m.id)) return this.declareDead(m, now)
      if (this.suspicions.confirm(m.id, self.id)) {
        this.ctx.emit({ type: 'suspicion', id: m.id, by: self.id })
        this.queueLocal({ ...this.updateOf(m), by: self.id })
      }
    }
  }

  /** M2: a suspect answered this node's probe: no verdict here; the ping carried its suspicion, so it can refute. */
  suspectAnswered(m: Member): void {
    this.doubted.delete(m.id)
    this.awaiting.delete(m.id)
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

  /** The earliest local time at which the tick's membership steps have work with no input (ClusterCore.nextTickAt). */
  nextDeadline(now: number): number {
    // F1's held return and F2's held re-admissions: at the base rate while any is held (rare, for seconds).
    if (this.heldReturn || this.heldReadmit.size > 0) return now
    let at = Math.min(this.suspicions.nextExpiry(), this.nextRemovalPrune)
    for (const m of this.ctx.members.values()) {
      if (m === this.ctx.self) continue
      if (m.state === 'suspect' && m.by === this.ctx.self.id) at = Math.min(at, (this.nudged.get(m.id) ?? -Infinity) + this.ctx.config.probeTimeoutMs)
      else if (!this.ctx.isLive(m)) at = Math.min(at, m.since + this.ctx.config.reapAfterMs)
    }
    return at
  }

  /** Suspects whose timers ran out: declared dead on this node's own evidence only (M1-M3). */
  expireSuspicions(now: number): void {
    for (const m of this.suspicions.expired(now)) {
      const start = this.suspicions.startedAt(m.id) ?? now
      if (this.health.holding) {
        // M1: too unwell to judge; look again once well.
        this.suspicions.rearm(m.id, now)
      } else if (this.prober.answeredSince(m.id, start)) {
        // M2: it answered us after the suspicion began; it stays suspect here until it refutes.
        this.suspicions.clear(m.id)
        this.awaiting.delete(m.id)
      } else if (this.prober.failedSince(m.id, now - this.suspicions.longest())) {
        this.declareDead(m, now)
      } else {
        // M3: no evidence of our own yet: get it, and decide when the probe ends.
        this.awaiting.add(m.id)
        this.suspicions.rearm(m.id, now)
        if (!this.prober.probing(m.id)) this.prober.start(m, now, false)
      }
    }
  }

  private declareDead(m: Member, now: number): void {
    this.doubted.delete(m.id)
    this.awaiting.delete(m.id)
    m.by = this.ctx.self.id
    this.setState(m, 'dead', now)
    this.queueLocal(this.updateOf(m))
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

  /**
   * Anti-entropy without the bulk: the periodic state exchange sends this digest (about 40 bytes) instead of the
   * whole table (about 300 bytes per member, twice, since the answer is a full table too: 15 % of an idle agent's
   * wire bytes at 10 agents, growing with N; docs/bench-runtime.md). A receiver whose own digest differs starts the
   * full exchange, so any difference is repaired one round trip later than before, and none is ever skipped.
   */
  sendDigest(peer: PeerKey, addrs: string[]): void {
    this.ctx.send(peer, { t: 'digest', from: this.ctx.self.id, digest: this.digest() }, addrs)
  }

  onDigest(fromPeer: PeerKey, msg: Extract<Message, { t: 'digest' }>, now: number): void {
    if (msg.digest === this.digest()) return
    // A mismatch costs this node a full table: at most one per peer per GONE_SYNC_MS, whatever a peer sends.
    if (now - (this.digestSyncAt.get(fromPeer) ?? -Infinity) < GONE_SYNC_MS) return
    if (this.digestSyncAt.size >= 4096) this.digestSyncAt.clear()
    this.digestSyncAt.set(fromPeer, now)
    this.sendSync(fromPeer, this.ctx.addrsOfPeer(fromPeer), false)
  }

  /**
   * What a full state exchange would carry, minus what is a node's own view of it (the accuser `by` of a suspicion):
   * every member's claim fields and the lineage and election header. Equal digests mean a full exchange would change
   * nothing on either side (up to a 2^-64 collision, which costs one round of anti-entropy, not a decision).
   */
  digest(): string {
    const parts: string[] = []
    for (const m of [...this.ctx.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
      const tags = m.tags ? Object.entries(m.tags).sort(([a], [b]) => (a < b ? -1 : 1)) : []
      parts.push(JSON.stringify([m.id, m.peer, m.incarnation, m.state, m.addrs, tags, m.boot ?? '']))
    }
    const h = this.hooks.header()
    const cfg = h.config ? [h.config.version, h.config.term, h.config.voters, h.config.by ?? ''] : null
    parts.push(JSON.stringify([h.cluster, [...(h.retired ?? [])].sort(), cfg, h.maxTerm]))
    return hash64(parts.join('\n'))
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
    this.prober.forget(id)
    this.ctx.emit({ type: 'member-removed', id })
    this.hooks.peersChanged()
  }
}

export function copy(m: Member): Member {
  const c: Member = { ...m, addrs: [...m.addrs] }
  if (m.tags) c.tags = { ...m.tags }
  return c
}

/** FNV-1a in two 32-bit lanes (different offset bases), as 16 hex digits: a checksum, not a MAC. */
function hash64(text: string): string {
  let a = 0x811c9dc5
  let b = 0x050c5d1f
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15)
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0')
}
