// The core's tick schedule (src/core/node.ts tickDelay, nextTickAt) as the agent and the simulator drive it.
import { describe, expect, it } from 'vitest'
import { TICK_MAX_GAP_MS, TICK_MIN_GAP_MS, tickDelay } from '../../src/core/node.ts'
import { startedWorld } from './started-world.ts'

describe('tick schedule', () => {
  it('ticks at the deadline, at most one per 50 ms and at least one per 250 ms', () => {
    expect(tickDelay(1000, 1120, 900)).toBe(120)
    // A deadline already passed: at once, unless the last tick was less than the minimum gap ago.
    expect(tickDelay(1000, 990, 900)).toBe(0)
    expect(tickDelay(1000, 990, 980)).toBe(980 + TICK_MIN_GAP_MS - 1000)
    // Nothing due for a long time (or ever): the maximum gap.
    expect(tickDelay(1000, 60_000, 900)).toBe(TICK_MAX_GAP_MS)
    expect(tickDelay(1000, Infinity, -Infinity)).toBe(TICK_MAX_GAP_MS)
  })

  it('a settled 10-node cluster ticks its cores a few times a second, not 20, with no invariant broken', () => {
    const w = startedWorld(10, 7)
    w.runUntil(20_000)
    const before = w.counters.ticks
    w.runUntil(50_000)
    const perNodeSecond = (w.counters.ticks - before) / w.nodes.length / 30
    // Probes every 500 ms, the master's renewals every 400 ms, and the 250 ms floor: about 4-6 (it was 20).
    expect(perNodeSecond).toBeGreaterThan(3)
    expect(perNodeSecond).toBeLessThan(8)
    // The early-tick check (world.ts) ran on every one of them.
    expect(w.checker.violations).toEqual([])
    expect(new Set(w.nodes.map((n) => n.core!.status(w.local(n)).master?.id))).toEqual(new Set(['node-1']))
  })
})
