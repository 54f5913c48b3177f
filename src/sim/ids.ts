// Node ids in the simulator are "node-1" .. "node-N". The protocol orders ids naturally ("node-2" < "node-10"),
// so the simulator's expectation of who should be master uses the same order.

export function nodeId(index: number): string {
  return `node-${index}`
}

/** Natural order: runs of digits compare as numbers, everything else as text. */
export function naturalCompare(a: string, b: string): number {
  const re = /(\d+)|(\D+)/g
  const pa = a.match(re) ?? []
  const pb = b.match(re) ?? []
  const n = Math.min(pa.length, pb.length)
  for (let i = 0; i < n; i++) {
    const x = pa[i]
    const y = pb[i]
    if (x === y) continue
    const dx = /^\d/.test(x)
    const dy = /^\d/.test(y)
    if (dx && dy) {
      const d = Number(x) - Number(y)
      if (d !== 0) return d < 0 ? -1 : 1
      if (x.length !== y.length) return x.length - y.length
    } else {
      return x < y ? -1 : 1
    }
  }
  return pa.length - pb.length
}

export function lowestId(ids: Iterable<string>): string | null {
  let best: string | null = null
  for (const id of ids) if (best === null || naturalCompare(id, best) < 0) best = id
  return best
}
