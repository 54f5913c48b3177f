// Event queue of the simulator: a binary min-heap ordered by (time, sequence). The sequence number is the
// insertion order, so events at the same virtual time run first-in first-out and a run is fully deterministic.

export interface Scheduled<T> {
  time: number
  seq: number
  item: T
}

export class EventQueue<T> {
  private heap: Scheduled<T>[] = []
  private nextSeq = 0

  get size(): number {
    return this.heap.length
  }

  push(time: number, item: T): void {
    if (!Number.isFinite(time)) throw new Error(`EventQueue.push: time must be finite, got ${time}`)
    const entry = { time, seq: this.nextSeq++, item }
    const h = this.heap
    h.push(entry)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!less(entry, h[parent])) break
      h[i] = h[parent]
      i = parent
    }
    h[i] = entry
  }

  peekTime(): number | undefined {
    return this.heap[0]?.time
  }

  pop(): Scheduled<T> | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop()!
    if (h.length > 0) {
      let i = 0
      const n = h.length
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && less(h[r], h[l]) ? r : l
        if (!less(h[c], last)) break
        h[i] = h[c]
        i = c
      }
      h[i] = last
    }
    return top
  }
}

function less<T>(a: Scheduled<T>, b: Scheduled<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}
