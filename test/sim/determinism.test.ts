import { describe, expect, it } from 'vitest'
import { runSeed } from '../../src/sim/run.ts'

describe('simulator determinism', () => {
  it('the same seed gives the identical trace and results', () => {
    const a = runSeed({ seed: 4242, nodes: 7, trace: true })
    const b = runSeed({ seed: 4242, nodes: 7, trace: true })
    expect(a.traceHash).toBe(b.traceHash)
    expect(a.trace).toEqual(b.trace)
    expect(a.events).toBe(b.events)
    expect(a.messages).toBe(b.messages)
    expect(a.violations).toEqual(b.violations)
    expect(a.convergenceMs).toBe(b.convergenceMs)
    // The trace is a real record of the run, not an empty list.
    expect(a.trace.length).toBeGreaterThan(50)
    expect(a.trace.some((l) => l.includes('became-master'))).toBe(true)
  })

  it('the hash does not depend on whether the trace is printed', () => {
    const quiet = runSeed({ seed: 77, nodes: 5 })
    const loud = runSeed({ seed: 77, nodes: 5, trace: true })
    expect(quiet.traceHash).toBe(loud.traceHash)
  })

  it('different seeds give different runs', () => {
    const hashes = new Set([1, 2, 3, 4].map((seed) => runSeed({ seed, nodes: 5 }).traceHash))
    expect(hashes.size).toBe(4)
  })
})
