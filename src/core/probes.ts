// SWIM failure detection: one member probed per interval in a shuffled round-robin order, a direct ping, then
// indirect pings through k helpers alongside one more direct try; gone members are re-probed so healed
// partitions merge. The verdict (suspect) is the membership's: this module only reports a failed probe, and keeps
// this node's first-hand record of each member (its last ack, its last failed probe) that verdicts are checked
// against (rules M2, M3 in membership.ts).

import type { Ctx } from './context.ts'
import type { LocalHealth } from './health.ts'
import type { Member, MemberUpdate, Message, PeerKey } from './types.ts'

interface Probe {
  seq: number
  target: string
  peer: PeerKey
  phase: 'direct' | 'indirect'
  /** When the current phase ends. */
  deadline: number
  /** Probe of a dead or left member to find out whether it is back: no suspicion on failure. */
  revive: boolean
  expectedNacks: number
  nacks: number
  /** The direct send failed at once (connection refused: the target's host answered that nothing listens). */
  refused: boolean
  helpers: PeerKey[]
  sentAt: number
}

/**
 * Members that died less than this long ago are re-probed every probe interval instead of every deadProbeIntervalMs
 * (2 s), so a member back in reach is found within about one interval divided by the number of observers. Ten
 * seconds covers a restart, a short partition and a flap; later returns are found by the slow round.
 */
export const FAST_REVIVE_MS = 10_000
/** Fast re-probes per probe interval, at most: a partition that takes half of 50 members away costs 4 pings a second. */
const FAST_REVIVE_PER_ROUND = 2

/**
 * This node's own word on a member: when its probe was last answered, when it last failed with evidence, and when
 * one last went unanswered at all (revive probes and refused dials included: F2's quiet test).
 */
export interface FirstHand {
  ackAt: number
  failAt: number
  missAt: number
  /** When the probe that went unanswered at missAt was sent (F2: a miss of a probe sent before an answer is stale). */
  missSentAt: number
  /** Round trip of the probe answered at ackAt (F2's count sizes its waits on it). */
  ackRttMs: number
}

interface Relay {
  requesterPeer: PeerKey
  requesterSeq: number
  target: string
  deadline: number
}

/** What a probe carries besides gossip (the sender's lineage and the master it recognises). */
export type ProbeExtras = Pick<Extract<Message, { t: 'ping' }>, 'cluster' | 'master'>

export interface ProbeHooks {
  extras(now: number): ProbeExtras
  /** Piggybacked gossip for a ping to `m`. */
  gossipFor(m: Member): MemberUpdate[]
  /** A probe of a live member failed (direct and indirect) with evidence against the target (M1: some helper nacked). */
  failed(m: Member, now: number): void
  /** A gone member answered a revive probe: the partition healed or it restarted. */
  revived(m: Member, now: number): void
  /** This node heard something again after a deaf spell (M1): the returning side pushes its state. */
  hearingAgain?(now: number): void
  /** A suspect answered this node's probe (M2: this node will not declare it dead). */
  answered?(m: Member, now: number): void
}

export class Prober {
  private readonly probes = new Map<number, Probe>()
  private readonly relays = new Map<number, Relay>()
  private order: string[] = []
  private index = 0
  private nextProbeAt: number
  private nextReviveAt: number
  private nextFastReviveAt: number
  private readonly firstHand = new Map<string, FirstHand>()
  private readonly revivedAt = new Map<string, number>()

  constructor(
    private readonly ctx: Ctx,
    private readonly health: LocalHealth,
    private readonly hooks: ProbeHooks,
    now: number,
  ) {
    this.nextProbeAt = now + ctx.rng() * ctx.config.probeIntervalMs
    this.nextReviveAt = now + ctx.config.deadProbeIntervalMs
    this.nextFastReviveAt = now + ctx.config.probeIntervalMs
  }

  /** This node's first-hand record of `id` (times -Infinity when it never probed it). */
  record(id: string): FirstHand {
    return this.firstHand.get(id) ?? { ackAt: -Infinity, failAt: -Infinity, missAt: -Infinity, missSentAt: -Infinity, ackRttMs: 0 }
  }

  /** M3: this node's last probe of `id` failed with evidence, at or after `since`, and nothing answered since. */
  failedSince(id: string, since: number): boolean {
    const r = this.record(id)
    return r.failAt >= since && r.failAt > r.ackAt
  }

  /** M2: a probe of `id` was answered (directly or through a helper) after `since`: it is alive and reachable. */
  answeredSince(id: string, since: number): boolean {
    return this.record(id).ackAt > since
  }

  /** F2: a probe of a member other than `id` went unanswered at or after `since` (this node's own trouble?). */
  missedOtherSince(id: string, since: number): boolean {
    for (const [other, r] of this.firstHand) if (other !== id && r.missAt >= since) return true
    return false
  }

  forget(id: string): void {
    this.firstHand.delete(id)
    this.revivedAt.delete(id)
  }

  private note(id: string, field: keyof FirstHand, now: number): void {
    const r = this.firstHand.get(id)
    if (r) r[field] = now
    else this.firstHand.set(id, { ackAt: -Infinity, failAt: -Infinity, missAt: -Infinity, missSentAt: -Infinity, ackRttMs: 0, [field]: now })
  }

  private timeout(): number {
    return this.ctx.config.probeTimeoutMs * this.health.factor
  }

  probing(id: string): boolean {
    for (const p of this.probes.values()) if (p.target === id) return true
    return false
  }

  /** The earliest local time at which `tick` has work with no input (ClusterCore.nextTickAt). */
  nextDeadline(now: number): number {
    let at = this.nextProbeAt
    for (const p of this.probes.values()) {
      // An indirect probe that every helper nacked (or refused plus a nack) ends on the next tick, not its deadline.
      if (p.phase !== 'direct' && ((p.expectedNacks > 0 && p.nacks >= p.expectedNacks) || (p.refused && p.nacks > 0))) return now
      at = Math.min(at, p.deadline)
    }
    for (const r of this.relays.values()) at = Math.min(at, r.deadline)
    // The revive rounds only matter while someone is gone (with nobody gone, their timers move on at any later tick).
    for (const m of this.ctx.members.values()) {
      if (m.state !== 'dead' && m.state !== 'left') continue
      at = Math.min(at, this.nextReviveAt)
      if (m.state === 'dead' && now - m.since < FAST_REVIVE_MS) return Math.min(at, this.nextFastReviveAt)
    }
    return at
  }

  tick(now: number): void {
    for (const p of [...this.probes.values()]) {
      if (p.phase === 'direct') {
        // A revive probe has no indirect phase: its miss is known now (F2's count of answers waits on it).
        if (now >= p.deadline) {
          if (p.revive) this.fail(p, now)
          else this.toIndirect(p, now)
        }
        continue
      }
      // Every helper answered that it could not reach the target either, or the target's host refused the connection
      // and one helper could not reach it either: no need to wait out the deadline (a lost nack would cost 400 ms).
      const allNacked = p.expectedNacks > 0 && p.nacks >= p.expectedNacks
      if (now >= p.deadline || allNacked || (p.refused && p.nacks > 0)) this.fail(p, now)
    }
    for (const [seq, r] of this.relays) {
      if (now >= r.deadline) {
        this.relays.delete(seq)
        this.ctx.send(r.requesterPeer, { t: 'nack', seq: r.requesterSeq, from: this.ctx.self.id })
      }
    }
    if (now >= this.nextProbeAt) {
      this.nextProbeAt = now + this.ctx.config.probeIntervalMs * this.health.factor
      this.probeNext(now)
    }
    if (now >= this.nextReviveAt) {
      this.nextReviveAt = now + this.ctx.config.deadProbeIntervalMs
      this.probeGone(now)
    }
    if (now >= this.nextFastReviveAt) {
      this.nextFastReviveAt = now + this.ctx.config.probeIntervalMs
      this.probeJustDied(now)
    }
  }

  /** Members that died within FAST_REVIVE_MS, least recently re-probed first (issue 13: heals seen within 0.5 s). */
  private probeJustDied(now: number): void {
    const recent = [...this.ctx.members.values()]
      .filter((m) => m.state === 'dead' && now - m.since < FAST_REVIVE_MS && !this.probing(m.id))
      .sort((a, b) => (this.revivedAt.get(a.id) ?? -Infinity) - (this.revivedAt.get(b.id) ?? -Infinity))
    for (const m of recent.slice(0, FAST_REVIVE_PER_ROUND)) this.start(m, now, true)
  }

  private probeNext(now: number): void {
    for (let tries = 0; tries < 2; tries++) {
      while (this.index < this.order.length) {
        const m = this.ctx.members.get(this.order[this.index++]!)
        if (!m || m === this.ctx.self || !this.ctx.isLive(m) || this.probing(m.id)) continue
        this.start(m, now, false)
        return
      }
      // One pass done: a new random order, as in SWIM's round-robin probing.
      this.order = this.ctx.shuffle(this.ctx.liveOthers().map((m) => m.id))
      this.index = 0
    }
  }

  /** A member that became live is probed within this pass, at a random place in the rest of the order. */
  insert(id: string): void {
    const at = this.index + Math.floor(this.ctx.rng() * (this.order.length - this.index + 1))
    this.order.splice(at, 0, id)
  }

  /**
   * Dead members, and members that left (they may come back: a restart after a leave), are probed again one at a
   * time, dead ones first, so a healed partition or a returning member is seen without its own help.
   */
  private probeGone(now: number): void {
    const gone = [...this.ctx.members.values()].filter((m) => (m.state === 'dead' || m.state === 'left') && !this.probing(m.id))
    const dead = gone.filter((m) => m.state === 'dead')
    const m = this.ctx.pick(dead.length > 0 && this.ctx.rng() < 0.75 ? dead : gone, 1)[0]
    if (m) this.start(m, now, true)
  }

  /** A probe of `m`; `timeoutMs` replaces the direct probe's timeout (F2's count of answers sizes its own). */
  start(m: Member, now: number, revive: boolean, timeoutMs?: number): Probe {
    if (revive) this.revivedAt.set(m.id, now)
    const seq = this.ctx.nextSeq()
    const p: Probe = { seq, target: m.id, peer: m.peer, phase: 'direct', deadline: now + (timeoutMs ?? this.timeout()), revive, expectedNacks: 0, nacks: 0, refused: false, helpers: [], sentAt: now }
    this.probes.set(seq, p)
    this.sendPing(m, seq, revive, now)
    return p
  }

  /**
   * F2: a gone member claims to be back, and this node's last probe of it went unanswered. Re-probed directly and
   * through helpers at once: this node's own connection to it may have stalled across the fault (a heal at 10
   * agents waited 1.4 s for one observer's direct path), while a helper's answer also shows that the member hears.
   */
  confirm(m: Member, now: number): void {
    this.askHelpers(this.start(m, now, true), now)
  }

  /** A probe's ping to `m`: gossip and extras, or for a revive probe no gossip and the revive flag. */
  private sendPing(m: Member, seq: number, revive: boolean, now: number): void {
    const ping: Extract<Message, { t: 'ping' }> = { t: 'ping', seq, from: this.ctx.self.id, gossip: revive ? [] : this.hooks.gossipFor(m), ...this.hooks.extras(now) }
    if (revive) ping.revive = true
    // Across what may be a partition that just healed (a member held gone, or this node holding its return, F1): not
    // over a connection that stalled meanwhile. Else the flapping node's own quiet test waits out TCP's back-off
    // after the heal (seen: still held 20 s after 30 s of 80% ingress loss ended). A re-probe is marked only by a
    // well node: a starved or deaf node's misses are its own, and a fresh connection costs both ends a handshake (the
    // shell also bounds them, src/net/shell.ts FORCED_PER_PEER_MS).
    const well = this.health.score === 0 && !this.health.holding
    this.ctx.send(m.peer, ping, m.addrs, (revive && well) || this.health.held)
  }

  private toIndirect(p: Probe, now: number): void {
    if (p.revive) {
      p.phase = 'indirect'
      p.deadline = now
      return
    }
    this.askHelpers(p, now)
    // Try the direct path once more alongside the indirect ones (memberlist's fallback probe): one lost
    // message must not be enough to raise a suspicion.
    const target = this.ctx.members.get(p.target)
    if (target) this.sendPing(target, p.seq, false, now)
  }

  private askHelpers(p: Probe, now: number): void {
    p.phase = 'indirect'
    p.deadline = now + this.ctx.config.indirectTimeoutMs * this.health.factor
    const helpers = this.ctx.pick(
      this.ctx.liveOthers().filter((m) => m.id !== p.target && m.state === 'alive'),
      this.ctx.config.indirectChecks,
    )
    p.expectedNacks = helpers.length
    p.helpers = helpers.map((h) => h.peer)
    for (const h of helpers) this.ctx.send(h.peer, { t: 'ping-req', seq: p.seq, from: this.ctx.self.id, target: p.target, targetPeer: p.peer }, h.addrs)
  }

  private fail(p: Probe, now: number): void {
    this.probes.delete(p.seq)
    this.ctx.emit({ type: 'probe', target: p.target, ok: false, indirect: p.phase === 'indirect' })
    // F1's quiet test: a failure counts against this node unless the target's host refused the connection (a member
    // that is gone for good must not keep a flapping node out); revive probes count too, as a node that holds
    // everyone else dead probes nobody else.
    if (!p.refused) this.health.trouble(now)
    this.note(p.target, 'missAt', now)
    this.firstHand.get(p.target)!.missSentAt = p.sentAt
    if (p.revive) return
    // Lifeguard local health: missing nacks suggest the problem is here, not at the target.
    if (p.nacks < p.expectedNacks) this.health.worse()
    // M1: helpers were asked and none answered, not even to say they could not reach the target either, and the
    // target's host did not refuse the connection. This node heard nobody, so the failure is evidence against itself,
    // not against the target: no suspicion. (A node whose ingress is blocked fails every probe this way; the issue
    // measured 18-21 false deaths of healthy members from such a node.)
    if (p.expectedNacks > 0 && p.nacks === 0 && !p.refused) {
      this.health.unheard()
      return
    }
    this.heard(now)
    this.note(p.target, 'failAt', now)
    const m = this.ctx.members.get(p.target)
    if (m && m.peer === p.peer) this.hooks.failed(m, now)
  }

  onPingReq(fromPeer: PeerKey, msg: Extract<Message, { t: 'ping-req' }>, now: number): void {
    const seq = this.ctx.nextSeq()
    this.relays.set(seq, { requesterPeer: fromPeer, requesterSeq: msg.seq, target: msg.target, deadline: now + this.timeout() * 0.8 })
    this.ctx.send(msg.targetPeer, { t: 'ping', seq, from: this.ctx.self.id, gossip: [] }, this.ctx.members.get(msg.target)?.addrs)
  }

  onAck(seq: number, now: number): void {
    const relay = this.relays.get(seq)
    if (relay) {
      this.relays.delete(seq)
      this.ctx.send(relay.requesterPeer, { t: 'ack', seq: relay.requesterSeq, from: this.ctx.self.id, gossip: [] })
      return
    }
    const p = this.probes.get(seq)
    if (!p) return
    this.probes.delete(seq)
    this.ctx.emit({ type: 'probe', target: p.target, ok: true, indirect: p.phase === 'indirect' })
    this.health.better(now)
    this.heard(now)
    const m = this.ctx.members.get(p.target)
    if (m && m.peer === p.peer) {
      this.note(p.target, 'ackAt', now)
      this.firstHand.get(p.target)!.ackRttMs = now - p.sentAt
    }
    if (p.revive && m && (m.state === 'dead' || m.state === 'left')) this.hooks.revived(m, now)
    else if (m && m.state === 'suspect') this.hooks.answered?.(m, now)
  }

  /** Something answered; at the end of a deaf spell others may hold this node dead: it pushes its state (hook). */
  private heard(now: number): void {
    if (this.health.heard(now)) this.hooks.hearingAgain?.(now)
  }

  onNack(seq: number): void {
    const p = this.probes.get(seq)
    if (p) p.nacks++
  }

  /**
   * The connection to `peer` closed. A probe already waiting on it would wait out its timeout for an answer that
   * died with the connection: send its ping again now, so a process that is gone is known at once (the redial is
   * refused) and one that is up answers on a new connection. Without a probe in flight, start one.
   */
  disconnected(m: Member, now: number): void {
    let waiting = false
    for (const p of this.probes.values()) {
      if (p.peer !== m.peer || p.phase !== 'direct') continue
      waiting = true
      this.sendPing(m, p.seq, p.revive, now)
    }
    if (!waiting && !this.probing(m.id)) this.start(m, now, false)
  }

  /** A send to `peer` failed: move its direct probes on, and nack the relays waiting on it. */
  sendFailed(peer: PeerKey, refused: boolean, now: number): void {
    // A refusal is an answer: this node's network works (M1). A timed-out dial is not.
    if (refused) this.heard(now)
    for (const p of this.probes.values()) {
      if (p.peer === peer) {
        if (refused) p.refused = true
        if (p.phase === 'direct') this.toIndirect(p, now)
      } else if (refused && p.phase === 'indirect' && p.helpers.includes(peer)) {
        // A helper that is gone itself will send no nack: stop waiting for it.
        p.helpers = p.helpers.filter((h) => h !== peer)
        p.expectedNacks--
      }
    }
    for (const [seq, r] of this.relays) {
      if (this.ctx.members.get(r.target)?.peer === peer) {
        this.relays.delete(seq)
        this.ctx.send(r.requesterPeer, { t: 'nack', seq: r.requesterSeq, from: this.ctx.self.id })
      }
    }
  }
}
