// Natural order of node ids: digit runs compare as numbers, so "node-2" < "node-10".

const chunk = /(\d+)|(\D+)/g

// Ids are compared on every tick (the lowest live id), so their parsed pieces are kept; the cache is bounded.
const parsed = new Map<string, Array<string | bigint>>()
const MAX_CACHED = 10_000

function chunks(s: string): Array<string | bigint> {
  const hit = parsed.get(s)
  if (hit) return hit
  const out: Array<string | bigint> = []
  for (const m of s.matchAll(chunk)) out.push(m[1] !== undefined ? BigInt(m[1]) : m[2]!)
  if (parsed.size >= MAX_CACHED) parsed.clear()
  parsed.set(s, out)
  return out
}

export function compareIds(a: string, b: string): number {
  if (a === b) return 0
  const x = chunks(a)
  const y = chunks(b)
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!
    const q = y[i]!
    if (typeof p === 'bigint' && typeof q === 'bigint') {
      if (p !== q) return p < q ? -1 : 1
    } else {
      const ps = String(p)
      const qs = String(q)
      if (ps !== qs) return ps < qs ? -1 : 1
    }
  }
  if (x.length !== y.length) return x.length - y.length
  // Same natural value but different text ("node-01" vs "node-1"): fall back to plain order so the order is total.
  return a < b ? -1 : 1
}

export function lowestId(ids: Iterable<string>): string | undefined {
  let best: string | undefined
  for (const id of ids) if (best === undefined || compareIds(id, best) < 0) best = id
  return best
}
