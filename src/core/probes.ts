// SWIM failure detection: one member probed per interval in a shuffled round-robin order, a direct ping, then
// indirect pings through k helpers alongside one more direct try; gone members are re-probed so healed
// partitions merge. The verdict (suspect) is the membership's: this module only reports a failed probe.

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
  /** A probe of a live member failed (direct and indirect). */
  failed(m: Member, now: number): void
  /** A gone member answered a revive probe: the partition healed or it restarted. */
  revived(m: Member): void
}

export class Prober {
  private readonly probes = new Map<number, Probe>()
  private readonly relays = new Map<number, Relay>()
  private order: string[] = []
  private index = 0
  private nextProbeAt: number
  private nextReviveAt: number

  constructor(
    private readonly ctx: Ctx,
    private readonly health: LocalHealth,
    private readonly hooks: ProbeHooks,
    now: number,
  ) {
    this.nextProbeAt = now + ctx.rng() * ctx.config.probeIntervalMs
    this.nextReviveAt = now + ctx.config.deadProbeIntervalMs
  }

  private timeout(): number {
    return this.ctx.config.probeTimeoutMs * this.health.factor
  }

  probing(id: string): boolean {
    for (const p of this.probes.values()) if (p.target === id) return true
    return false
  }

  tick(now: number): void {
    for (const p of [...this.probes.values()]) {
      if (p.phase === 'direct') {
        if (now >= p.deadline) this.toIndirect(p, now)
        continue
      }
      // Every helper answered that it could not reach the target either: no need to wait out the deadline.
      const allNacked = p.expectedNacks > 0 && p.nacks >= p.expectedNacks
      if (now >= p.deadline || allNacked) this.fail(p, now)
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

  start(m: Member, now: number, revive: boolean): void {
    const seq = this.ctx.nextSeq()
    this.probes.set(seq, { seq, target: m.id, peer: m.peer, phase: 'direct', deadline: now + this.timeout(), revive, expectedNacks: 0, nacks: 0 })
    this.ctx.send(m.peer, { t: 'ping', seq, from: this.ctx.self.id, gossip: revive ? [] : this.hooks.gossipFor(m), ...this.hooks.extras(now) }, m.addrs)
  }

  private toIndirect(p: Probe, now: number): void {
    p.phase = 'indirect'
    p.deadline = now + this.ctx.config.indirectTimeoutMs * this.health.factor
    if (p.revive) {
      p.deadline = now
      return
    }
    const helpers = this.ctx.pick(
      this.ctx.liveOthers().filter((m) => m.id !== p.target && m.state === 'alive'),
      this.ctx.config.indirectChecks,
    )
    p.expectedNacks = helpers.length
    for (const h of helpers) this.ctx.send(h.peer, { t: 'ping-req', seq: p.seq, from: this.ctx.self.id, target: p.target, targetPeer: p.peer }, h.addrs)
    // Try the direct path once more alongside the indirect ones (memberlist's fallback probe): one lost
    // message must not be enough to raise a suspicion.
    const target = this.ctx.members.get(p.target)
    if (target) this.ctx.send(target.peer, { t: 'ping', seq: p.seq, from: this.ctx.self.id, gossip: this.hooks.gossipFor(target), ...this.hooks.extras(now) }, target.addrs)
  }

  private fail(p: Probe, now: number): void {
    this.probes.delete(p.seq)
    this.ctx.emit({ type: 'probe', target: p.target, ok: false, indirect: p.phase === 'indirect' })
    if (p.revive) return
    // Lifeguard local health: missing nacks suggest the problem is here, not at the target.
    if (p.nacks < p.expectedNacks) this.health.worse()
    const m = this.ctx.members.get(p.target)
    if (m && m.peer === p.peer) this.hooks.failed(m, now)
  }

  onPingReq(fromPeer: PeerKey, msg: Extract<Message, { t: 'ping-req' }>, now: number): void {
    const seq = this.ctx.nextSeq()
    this.relays.set(seq, { requesterPeer: fromPeer, requesterSeq: msg.seq, target: msg.target, deadline: now + this.timeout() * 0.8 })
    this.ctx.send(msg.targetPeer, { t: 'ping', seq, from: this.ctx.self.id, gossip: [] }, this.ctx.members.get(msg.target)?.addrs)
  }

  onAck(seq: number): void {
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
    this.health.better()
    const m = this.ctx.members.get(p.target)
    if (p.revive && m && (m.state === 'dead' || m.state === 'left')) this.hooks.revived(m)
  }

  onNack(seq: number): void {
    const p = this.probes.get(seq)
    if (p) p.nacks++
  }

  /** A send to `peer` failed at once: move its direct probes on, and nack the relays waiting on it. */
  sendFailed(peer: PeerKey, now: number): void {
    for (const p of this.probes.values()) if (p.peer === peer && p.phase === 'direct') this.toIndirect(p, now)
    for (const [seq, r] of this.relays) {
      if (this.ctx.members.get(r.target)?.peer === peer) {
        this.relays.delete(seq)
        this.ctx.send(r.requesterPeer, { t: 'nack', seq: r.requesterSeq, from: this.ctx.self.id })
      }
    }
  }
}
