// CI gate of the simulator: at least 500 seeds over cluster sizes 3 to 15, every invariant checked after every
// step. A failure prints the seed and the command that replays it with a trace.
import { describe, expect, it } from 'vitest'
import { runParallel } from '../../src/sim/batch.ts'
import { defaultRunOptions, type RunOptions } from '../../src/sim/run.ts'
import { nodesFor, replayCommand } from '../../src/sim/cli.ts'
import { summarize, formatSummary } from '../../src/sim/summary.ts'
import { FAULT_KINDS } from '../../src/sim/faults.ts'

const SEEDS = 500
const FIRST = 1
const base: Omit<RunOptions, 'seed' | 'nodes'> = {
  ...defaultRunOptions,
  faults: [...FAULT_KINDS],
  // A shorter fault phase than the CLI default keeps 500 seeds inside the CI budget on 2 cores.
  durationMs: 10_000,
}

describe('simulation over many seeds', () => {
  it(`${SEEDS} seeds, 3-15 nodes, all faults: no invariant violated`, async () => {
    const runs = Array.from({ length: SEEDS }, (_, i) => ({ seed: FIRST + i, nodes: nodesFor(FIRST + i, { min: 3, max: 15 }) }))
    const started = performance.now()
    const results = await runParallel({ base, runs }, 2)
    const summary = summarize(results, performance.now() - started)
    process.stdout.write(`\n${formatSummary(summary)}`)
    const sizes = new Set(results.map((r) => r.nodes))
    expect(Math.min(...sizes)).toBe(3)
    expect(Math.max(...sizes)).toBe(15)
    const failing = results.filter((r) => !r.ok)
    const report = failing
      .slice(0, 15)
      .map((r) => `seed ${r.seed} (${r.nodes} nodes): ${r.violations[0].kind}: ${r.violations[0].detail.split('\n')[0]}\n    replay: ${replayCommand(r, base)}`)
      .join('\n')
    expect(failing.length, `${failing.length} of ${SEEDS} seeds violated invariants:\n${report}`).toBe(0)
  }, 300_000)
})
