// Seeded randomness for the simulator. Everything random in a run comes from one seed through these
// generators, so a run replays bit for bit. Math.random is never used.

/** A uniform generator in [0, 1) plus the helpers the simulator needs. */
export interface Rng {
  (): number
  int(maxExclusive: number): number
  range(min: number, max: number): number
  chance(p: number): boolean
  pick<T>(items: readonly T[]): T
  shuffle<T>(items: T[]): T[]
  exp(mean: number): number
  /** A new independent generator derived from this one and a label (stable regardless of draw order elsewhere). */
  fork(label: string): Rng
  readonly seed: number
}

/** splitmix32 step: spreads a 32-bit seed so nearby seeds give unrelated streams. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0
  let z = x
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** FNV-1a of a string, used to turn labels into seed material. */
export function hashString(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** xoshiro128** seeded through splitmix32. Small, fast, and good enough for simulation. */
export function createRng(seed: number): Rng {
  let s0 = splitmix32(seed)
  let s1 = splitmix32(s0)
  let s2 = splitmix32(s1)
  let s3 = splitmix32(s2)
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1
  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9)
    const t = s1 << 9
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = rotl(s3, 11)
    return (result >>> 0) / 4294967296
  }
  const rng = next as Rng
  Object.defineProperty(rng, 'seed', { value: seed >>> 0 })
  rng.int = (n) => Math.floor(next() * n)
  rng.range = (min, max) => min + next() * (max - min)
  rng.chance = (p) => p > 0 && next() < p
  rng.pick = (items) => {
    if (items.length === 0) throw new Error('rng.pick: empty list')
    return items[Math.floor(next() * items.length)]
  }
  rng.shuffle = (items) => {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1))
      const tmp = items[i]
      items[i] = items[j]
      items[j] = tmp
    }
    return items
  }
  rng.exp = (mean) => -Math.log(1 - next()) * mean
  rng.fork = (label) => createRng(hashString(label, splitmix32(seed ^ 0x5bd1e995)))
  return rng
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
