// Suspicion timers (SWIM with Lifeguard's dynamic suspicion): a suspect is declared dead when its timer runs out;
// the timeout falls from max to min as independent members confirm the suspicion.

import type { Ctx } from './context.ts'
import type { Member } from './types.ts'

/**
 * Timeout of a suspicion that k independent members confirmed. A refutation crosses a LAN in well under 50 ms; 150 ms
 * leaves three times that, and keeps a killed member's death in every view near 0.3 s at 10 agents (issue 13: 0.5 s).
 */
export const CONFIRMED_MS = 150

interface Suspicion {
  incarnation: number
  start: number
  confirmers: Set<string>
  /** Confirmations that would shrink the timeout to its minimum. */
  k: number
}

export class Suspicions {
  private readonly timers = new Map<string, Suspicion>()

  constructor(private readonly ctx: Ctx) {}

  /** Start (or confirm) the suspicion of `m` at its current incarnation. Returns true for a new timer. */
  start(m: Member, by: string, now: number): boolean {
    const existing = this.timers.get(m.id)
    if (existing && existing.incarnation === m.incarnation) {
      existing.confirmers.add(by)
      return false
    }
    const others = this.ctx.liveOthers().filter((x) => x.id !== m.id).length
    this.timers.set(m.id, {
      incarnation: m.incarnation,
      start: now,
      confirmers: new Set([by]),
      k: Math.min(this.ctx.config.indirectChecks, Math.max(0, others - 1)),
    })
    return true
  }

  /** An independent confirmation of a running suspicion; false when there is none or `by` already counted. */
  confirm(id: string, by: string): boolean {
    const s = this.timers.get(id)
    if (!s || s.confirmers.has(by)) return false
    s.confirmers.add(by)
    return true
  }

  has(id: string): boolean {
    return this.timers.has(id)
  }

  clear(id: string): void {
    this.timers.delete(id)
  }

  /**
   * Lifeguard: the timeout falls from max to min as independent confirmations arrive. Once k independent members
   * confirmed it (Rapid's high watermark: several observers' failed probes, each with its helpers' nacks), the
   * suspicion ends after CONFIRMED_MS, which only leaves room for a refutation already on its way.
   */
  timeout(confirmations: number, k: number): number {
    const n = Math.max(1, this.ctx.live().length)
    const min = this.ctx.config.suspicionMinMs * Math.max(1, Math.log10(n))
    const max = min * this.ctx.config.suspicionMaxMult
    if (k < 1) return min
    if (confirmations >= k) return Math.min(min, CONFIRMED_MS)
    const frac = Math.log(confirmations + 1) / Math.log(k + 1)
    return Math.max(min, max - (max - min) * Math.min(1, frac))
  }

  /** The longest timeout at the current size (no confirmation): how far back a verdict's evidence can reach. */
  longest(): number {
    const n = Math.max(1, this.ctx.live().length)
    return this.ctx.config.suspicionMinMs * Math.max(1, Math.log10(n)) * this.ctx.config.suspicionMaxMult
  }

  /** When the running suspicion of `id` started (undefined when there is none). */
  startedAt(id: string): number | undefined {
    return this.timers.get(id)?.start
  }

  /** Look at the suspicion afresh from `now` (M1, M3: the verdict waits for this node's own evidence). */
  rearm(id: string, now: number): void {
    const s = this.timers.get(id)
    if (s) s.start = now
  }

  /** When the first running suspicion's timer runs out (Infinity: none runs). */
  nextExpiry(): number {
    let at = Infinity
    for (const s of this.timers.values()) at = Math.min(at, s.start + this.timeout(s.confirmers.size - 1, s.k))
    return at
  }

  /** Suspects whose timer ran out at `now`; the caller clears or re-arms each (membership.ts, M1-M3). */
  expired(now: number): Member[] {
    const out: Member[] = []
    for (const [id, s] of this.timers) {
      const m = this.ctx.members.get(id)
      if (!m || m.state !== 'suspect' || m.incarnation !== s.incarnation) {
        this.timers.delete(id)
        continue
      }
      if (now - s.start >= this.timeout(s.confirmers.size - 1, s.k)) out.push(m)
    }
    return out
  }
}
