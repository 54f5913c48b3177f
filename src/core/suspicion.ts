// Suspicion timers (SWIM with Lifeguard's dynamic suspicion): a suspect is declared dead when its timer runs out;
// the timeout falls from max to min as independent members confirm the suspicion.

import type { Ctx } from './context.ts'
import type { Member } from './types.ts'

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

  /** Lifeguard: the timeout falls from max to min as independent confirmations arrive. */
  timeout(confirmations: number, k: number): number {
    const n = Math.max(1, this.ctx.live().length)
    const min = this.ctx.config.suspicionMinMs * Math.max(1, Math.log10(n))
    const max = min * this.ctx.config.suspicionMaxMult
    if (k < 1) return min
    const frac = Math.log(confirmations + 1) / Math.log(k + 1)
    return Math.max(min, max - (max - min) * Math.min(1, frac))
  }

  /** Suspects whose timer ran out at `now` (their timers are cleared). */
  expired(now: number): Member[] {
    const out: Member[] = []
    for (const [id, s] of this.timers) {
      const m = this.ctx.members.get(id)
      if (!m || m.state !== 'suspect' || m.incarnation !== s.incarnation) {
        this.timers.delete(id)
        continue
      }
      if (now - s.start >= this.timeout(s.confirmers.size - 1, s.k)) {
        this.timers.delete(id)
        out.push(m)
      }
    }
    return out
  }
}
