// Leases: the voter's grant (at most one holder at a time) and the holder's count of the grants it holds.
//
//   L1  A voter grants its lease to at most one node at a time, and to another node only after the previous
//       grant expired on its own clock; a restarted voter grants nothing for one lease length (it forgot whom it
//       granted). Grants never cross lineages: a voter refuses a candidate of another cluster.
//   L2  The holder counts a grant of d ms for d * (1 - 2 * clockDrift) from when it asked, not from when it was
//       granted: one clockDrift for clock-rate drift between the two nodes, one more as a fence margin, so a
//       master that loses its majority stops its masterOnly work before any voter can grant another node.
//   L3  A node is master only while it holds unexpired grants under its candidate term from a majority of the
//       voters (those that left stop counting a lease after they left).

import type { Ctx } from './context.ts'
import type { Terms } from './terms.ts'
import type { Message, VoterConfig } from './types.ts'
import { needed } from './voters.ts'

export type Refusal = NonNullable<Extract<Message, { t: 'lease-ack' }>['reason']>

export interface Decision {
  granted: boolean
  reason?: Refusal
  holder?: string
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

/** The voter side: this node's one lease. */
export class VoterLease {
  private grant: Grant | null = null

  constructor(
    private readonly ctx: Ctx,
    private readonly terms: Terms,
  ) {}

  /** When this voter's grant runs out, if that is after `after` (else Infinity): the candidate may change then. */
  expiresAt(after: number): number {
    return this.grant && this.grant.expiresAt > after ? this.grant.expiresAt : Infinity
  }

  /** The node this voter's unexpired grant protects, if any. */
  holder(now: number): string | undefined {
    return this.grant && this.grant.expiresAt > now ? this.grant.holder : undefined
  }

  /**
   * Decide a request. `blocked` says why this voter may not grant at all right now (not a voter, just restarted,
   * amnesiac, other lineage); `lowest` is whom it would make master.
   */
  decide(from: string, term: number, blocked: Refusal | null, lowest: string | undefined, now: number): Decision {
    if (blocked) return { granted: false, reason: blocked }
    if (lowest !== from) return lowest !== undefined ? { granted: false, reason: 'not-lowest', holder: lowest } : { granted: false, reason: 'not-lowest' }
    const g = this.grant
    if (g && g.holder !== from && g.expiresAt > now) return { granted: false, reason: 'bound', holder: g.holder }
    const renewal = g !== null && g.holder === from && g.term === term
    // Compared with the terms this voter granted, not every term it heard of: the acks of a candidate's
    // own campaign raise its maxTerm to its candidate term, and must not make it refuse its own vote.
    if (!renewal && term <= this.terms.promised) return { granted: false, reason: 'stale-term' }
    this.grant = { holder: from, term, expiresAt: now + this.ctx.config.leaseDurationMs }
    // A renewal keeps its promise (which may since have been raised above it by merge news or an amnesiac's jump).
    if (!renewal) this.terms.promiseTerm(term)
    return { granted: true }
  }

  /** The holder released its grant (graceful leave). */
  release(from: string, term: number): void {
    if (this.grant && this.grant.holder === from && this.grant.term === term) this.grant = null
  }
}

/** The holder side: grants this node holds as candidate, per voter. */
export class HeldLeases {
  private readonly held = new Map<string, HeldGrant>()
  /** Request seq -> when it was sent (a grant counts from there, L2). */
  private readonly requests = new Map<number, number>()

  constructor(private readonly ctx: Ctx) {}

  /** L2: how long the holder counts a grant of `durationMs`. */
  share(durationMs: number): number {
    return durationMs * (1 - 2 * this.ctx.config.clockDrift)
  }

  asked(seq: number, now: number): void {
    this.requests.set(seq, now)
    for (const [s, at] of this.requests) if (now - at > this.ctx.config.leaseDurationMs) this.requests.delete(s)
  }

  sentAt(seq: number): number | undefined {
    return this.requests.get(seq)
  }

  record(voter: string, term: number, validUntil: number, configVersion: number): void {
    this.held.set(voter, { term, validUntil, configVersion })
  }

  /** The earliest end of a held grant after `after` (Infinity: none): mastership may end then, fenced at once. */
  nextExpiry(after: number): number {
    let at = Infinity
    for (const h of this.held.values()) if (h.validUntil > after && h.validUntil < at) at = h.validUntil
    return at
  }

  /** Whether any grant is held at all (a node that is no candidate drops them on its next renewal round). */
  empty(): boolean {
    return this.held.size === 0
  }

  clear(): void {
    this.held.clear()
  }

  any(term: number): boolean {
    for (const h of this.held.values()) if (h.term === term) return true
    return false
  }

  /** L3: unexpired grants under `term` from voters of `cfg`, counted against the voting members. */
  count(cfg: VoterConfig, term: number, now: number): number {
    let n = 0
    for (const v of cfg.voters) {
      const h = this.held.get(v)
      if (h && h.term === term && h.validUntil > now) n++
    }
    return n
  }

  /** Voters whose unexpired grant acknowledged config version `version` or later (self counts by its own vote). */
  acknowledged(cfg: VoterConfig, now: number): number {
    let n = 0
    for (const v of cfg.voters) {
      const h = this.held.get(v)
      if (h && h.configVersion >= cfg.version && h.validUntil > now) n++
    }
    return n
  }

  majority(cfg: VoterConfig, voting: number, term: number, now: number): boolean {
    return this.count(cfg, term, now) >= needed(voting)
  }
}
