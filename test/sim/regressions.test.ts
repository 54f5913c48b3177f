// Seeds that once exposed a bug, replayed exactly (CLI defaults unless noted). Each names what it caught.
// Replay any of them with a trace: npm run sim -- --seed <seed> --nodes <nodes> --faults all --trace
import { describe, expect, it } from 'vitest'
import { runSeed } from '../../src/sim/run.ts'

const cases: { seed: number; nodes: number; what: string }[] = [
  {
    seed: 12,
    nodes: 4,
    what:
      'core: the lowest live id never regains mastership: its own vote is refused as stale-term because the ' +
      'lease-acks of its own campaign raised its maxTerm to its candidate term while its old grant was still bound',
  },
  {
    seed: 9,
    nodes: 13,
    what: 'core: after two graceful leaves the restarted lowest id never campaigns: --expect 13 can never be met again',
  },
  {
    seed: 8,
    nodes: 12,
    what: 'core: same as seed 9 (restart of node-1 after leaves, expect never met)',
  },
  {
    seed: 178,
    nodes: 4,
    what: 'sim: a node that left while a one-way partition cut its outgoing traffic is rightly seen dead, not left',
  },
]

describe('regression seeds', () => {
  for (const c of cases) {
    it(`seed ${c.seed} (${c.nodes} nodes): ${c.what}`, () => {
      const r = runSeed({ seed: c.seed, nodes: c.nodes })
      const replay = `npm run sim -- --seed ${c.seed} --nodes ${c.nodes} --faults all --trace`
      expect(r.violations.map((v) => `${v.kind} at ${(v.time / 1000).toFixed(3)}s: ${v.detail.split('\n')[0]}`), `replay: ${replay}`).toEqual([])
    })
  }
})
