import type { MemberUpdate } from './types.ts'

// SWIM piggyback dissemination: each update rides on a bounded number of outgoing probes and acks,
// fewest-sent first, so news spreads in O(log n) rounds at a constant per-message cost.
export class GossipQueue {
  private entries = new Map<string, { update: MemberUpdate; sent: number; order: number }>()
  private counter = 0

  /** Queue an update; it replaces any older update about the same member. */
  push(update: MemberUpdate): void {
    this.entries.set(update.id + '\u0000' + (update.by ?? ''), { update: { ...update, addrs: [...update.addrs] }, sent: 0, order: ++this.counter })
    // A newer state of a member supersedes queued confirmations by others of an older state.
    for (const [key, e] of this.entries) {
      if (e.update.id === update.id && e.update !== update && (e.update.incarnation < update.incarnation || (e.update.state !== update.state && e.update.incarnation === update.incarnation && rank(update.state) > rank(e.update.state)))) {
        this.entries.delete(key)
      }
    }
  }

  /** Take up to `max` updates for one outgoing message. `limit` is the retransmit budget per update. */
  take(max: number, limit: number): MemberUpdate[] {
    if (this.entries.size === 0 || max <= 0) return []
    // Fewest-sent first and, among equals, newest first, so fresh news overtakes a backlog (as memberlist does).
    const picked = [...this.entries.entries()].sort((a, b) => a[1].sent - b[1].sent || b[1].order - a[1].order).slice(0, max)
    const out: MemberUpdate[] = []
    for (const [key, e] of picked) {
      out.push(e.update)
      e.sent++
      if (e.sent >= limit) this.entries.delete(key)
    }
    return out
  }

  get size(): number {
    return this.entries.size
  }
}

export function rank(state: MemberUpdate['state']): number {
  return state === 'alive' ? 0 : state === 'suspect' ? 1 : state === 'dead' ? 2 : 3
}
