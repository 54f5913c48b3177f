import { describe, expect, it } from 'vitest'
import { Network, defaultNetwork } from '../../src/sim/network.ts'
import { createRng } from '../../src/sim/rng.ts'
import { EventQueue } from '../../src/sim/heap.ts'
import { naturalCompare, lowestId } from '../../src/sim/ids.ts'

const net = (over: Partial<typeof defaultNetwork> = {}, seed = 1) => new Network({ ...defaultNetwork, duplicate: 0, ...over }, createRng(seed))

describe('network model: partitions', () => {
  it('groups block both directions across groups and nothing inside a group', () => {
    const n = net()
    n.partition({ kind: 'groups', groups: [['a', 'b'], ['c', 'd']] })
    expect(n.blocked('a', 'c')).toBe(true)
    expect(n.blocked('c', 'a')).toBe(true)
    expect(n.blocked('b', 'd')).toBe(true)
    expect(n.blocked('a', 'b')).toBe(false)
    expect(n.blocked('d', 'c')).toBe(false)
    // A node named in no group (say, one that joined later) is not cut off.
    expect(n.blocked('a', 'e')).toBe(false)
    expect(n.blocked('e', 'd')).toBe(false)
    expect(n.plan('a', 'c', 0)).toEqual([])
  })

  it('a bridge sees both sides while the sides cannot see each other (non-transitive)', () => {
    const n = net()
    n.partition({ kind: 'bridge', left: ['a'], bridge: ['b'], right: ['c'] })
    expect(n.blocked('a', 'b')).toBe(false)
    expect(n.blocked('b', 'a')).toBe(false)
    expect(n.blocked('b', 'c')).toBe(false)
    expect(n.blocked('c', 'b')).toBe(false)
    expect(n.blocked('a', 'c')).toBe(true)
    expect(n.blocked('c', 'a')).toBe(true)
  })

  it('one-way drops one direction only', () => {
    const n = net()
    n.partition({ kind: 'oneway', from: ['a'], to: ['b', 'c'] })
    expect(n.blocked('a', 'b')).toBe(true)
    expect(n.blocked('a', 'c')).toBe(true)
    expect(n.blocked('b', 'a')).toBe(false)
    expect(n.blocked('c', 'a')).toBe(false)
    expect(n.blocked('b', 'c')).toBe(false)
  })

  it('rules compose and heal clears them all', () => {
    const n = net()
    n.partition({ kind: 'oneway', from: ['a'], to: ['b'] })
    n.partition({ kind: 'groups', groups: [['c'], ['d']] })
    expect(n.blocked('a', 'b')).toBe(true)
    expect(n.blocked('c', 'd')).toBe(true)
    n.heal()
    expect(n.blocked('a', 'b')).toBe(false)
    expect(n.blocked('c', 'd')).toBe(false)
    expect(n.activeRules()).toEqual([])
  })

  it('rejects malformed rules', () => {
    const n = net()
    expect(() => n.partition({ kind: 'groups', groups: [['a'], ['a', 'b']] })).toThrow(/two groups/)
    expect(() => n.partition({ kind: 'bridge', left: ['a'], bridge: ['a'], right: ['b'] })).toThrow(/bridge/)
    expect(() => new Network({ ...defaultNetwork, loss: 1.5 }, createRng(1))).toThrow(/loss/)
  })
})

describe('network model: loss, duplication, delay', () => {
  it('drops about the configured fraction of copies', () => {
    const n = net({ loss: 0.3 })
    let lost = 0
    const trials = 20_000
    for (let i = 0; i < trials; i++) if (n.plan('a', 'b', 0).length === 0) lost++
    expect(lost / trials).toBeGreaterThan(0.28)
    expect(lost / trials).toBeLessThan(0.32)
  })

  it('loses nothing at loss 0 and everything at loss 1', () => {
    const none = net({ loss: 0 })
    const all = net({ loss: 1 })
    for (let i = 0; i < 1000; i++) {
      expect(none.plan('a', 'b', 0).length).toBe(1)
      expect(all.plan('a', 'b', 0).length).toBe(0)
    }
  })

  it('duplicates about the configured fraction, each copy with its own delay', () => {
    const n = net({ duplicate: 0.2 })
    let dup = 0
    const trials = 10_000
    for (let i = 0; i < trials; i++) {
      const p = n.plan('a', 'b', 0)
      if (p.length === 2) {
        dup++
        expect(p[0]).not.toBe(p[1])
      }
    }
    expect(dup / trials).toBeGreaterThan(0.18)
    expect(dup / trials).toBeLessThan(0.22)
  })

  it('delays are at least the base and reorder messages', () => {
    const n = net({ delayBaseMs: 0.5, delayMeanMs: 2 })
    const d = Array.from({ length: 1000 }, () => n.plan('a', 'b', 0)[0])
    expect(Math.min(...d)).toBeGreaterThanOrEqual(0.5)
    let inversions = 0
    for (let i = 1; i < d.length; i++) if (d[i] < d[i - 1]) inversions++
    expect(inversions).toBeGreaterThan(100)
  })

  it('a loss burst applies to the links it names, until it ends', () => {
    const n = net({ loss: 0 })
    n.addBurst(0, 1000, 1, ['a'])
    expect(n.plan('a', 'b', 10)).toEqual([])
    expect(n.plan('b', 'a', 10)).toEqual([])
    expect(n.plan('b', 'c', 10).length).toBe(1)
    expect(n.inBurst('a', 10)).toBe(true)
    expect(n.plan('a', 'b', 1000).length).toBe(1)
    expect(n.inBurst('a', 1000)).toBe(false)
  })

  it('is deterministic for a seed', () => {
    const a = net({ loss: 0.2, duplicate: 0.1 }, 42)
    const b = net({ loss: 0.2, duplicate: 0.1 }, 42)
    for (let i = 0; i < 500; i++) expect(a.plan('x', 'y', i)).toEqual(b.plan('x', 'y', i))
  })
})

describe('simulator plumbing', () => {
  it('the event queue pops by time, then in insertion order', () => {
    const q = new EventQueue<string>()
    q.push(5, 'e')
    q.push(1, 'a')
    q.push(3, 'c1')
    q.push(3, 'c2')
    q.push(0, 'z')
    q.push(3, 'c3')
    const out: string[] = []
    while (q.size) out.push(q.pop()!.item)
    expect(out).toEqual(['z', 'a', 'c1', 'c2', 'c3', 'e'])
    expect(() => q.push(Number.NaN, 'x')).toThrow()
  })

  it('the heap stays ordered over many random pushes', () => {
    const rng = createRng(7)
    const q = new EventQueue<number>()
    for (let i = 0; i < 5000; i++) q.push(Math.floor(rng() * 100), i)
    let last = -1
    let lastSeq = -1
    while (q.size) {
      const e = q.pop()!
      expect(e.time >= last).toBe(true)
      if (e.time === last) expect(e.seq).toBeGreaterThan(lastSeq)
      last = e.time
      lastSeq = e.seq
    }
  })

  it('seeded rng streams are reproducible and forks are independent', () => {
    const a = createRng(99)
    const b = createRng(99)
    expect(Array.from({ length: 10 }, () => a())).toEqual(Array.from({ length: 10 }, () => b()))
    expect(createRng(1)()).not.toBe(createRng(2)())
    expect(createRng(5).fork('x')()).toBe(createRng(5).fork('x')())
    expect(createRng(5).fork('x')()).not.toBe(createRng(5).fork('y')())
  })

  it('orders node ids naturally', () => {
    expect(naturalCompare('node-2', 'node-10')).toBeLessThan(0)
    expect(naturalCompare('node-10', 'node-9')).toBeGreaterThan(0)
    expect(lowestId(['node-10', 'node-3', 'node-21'])).toBe('node-3')
  })
})
