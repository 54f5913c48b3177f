// The fault matrix (fault-matrix.ts) over many seeds: how often an observer removed the faulty node more than once,
// how long the last view took to settle (kill, crash-two, heal), and healthy members declared dead. The unit test
// (test/sim/fault-matrix.test.ts) checks 4 seeds against fixed bounds; this shows the distribution behind them.
//   npx tsx src/sim/matrix-study.ts --seeds 30 --nodes 5,10 --faults ingress-loss,heal
import { Command, InvalidArgumentError } from 'commander'
import { CHECKED_RUN, MATRIX_FAULTS, type MatrixFault, runMatrix } from './fault-matrix.ts'

const list = (v: string) => v.split(',').filter(Boolean)
const program = new Command('matrix-study')
  .option('--seeds <n>', 'seeds per fault and size (1..n)', (v) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
    return n
  }, 30)
  .option('--nodes <list>', 'cluster sizes', (v) => list(v).map(Number), [5, 10])
  .option('--faults <list>', `faults: ${MATRIX_FAULTS.join(',')}`, (v) => {
    const fs = list(v)
    for (const f of fs) if (!(MATRIX_FAULTS as readonly string[]).includes(f)) throw new InvalidArgumentError(`unknown fault "${f}"`)
    return fs as MatrixFault[]
  }, [...MATRIX_FAULTS])
  .option('--duration <ms>', 'length of the fault (the unit test\'s: CHECKED_RUN)', Number, CHECKED_RUN.durationMs)
  .parse()
const o = program.opts<{ seeds: number; nodes: number[]; faults: MatrixFault[]; duration: number }>()

console.log('| fault | nodes | runs | runs where one observer removed the faulty node(s) more than once | most removals by one observer | healthy deaths | violations | settle p50 / max ms |')
console.log('|---|---|---|---|---|---|---|---|')
for (const fault of o.faults) {
  for (const nodes of o.nodes) {
    let twice = 0, most = 0, deaths = 0, violations = 0
    const settle: number[] = []
    for (let seed = 1; seed <= o.seeds; seed++) {
      const r = runMatrix({ ...CHECKED_RUN, durationMs: o.duration, seed, nodes, fault })
      const m = Math.max(0, ...Object.values(r.removals))
      if (m > 1) twice++
      most = Math.max(most, m)
      deaths += r.healthyDeaths
      violations += r.violations.length
      if (r.settleMs !== null) settle.push(r.settleMs)
    }
    settle.sort((a, b) => a - b)
    const s = settle.length ? `${settle[Math.floor(settle.length / 2)]} / ${settle.at(-1)}` : '-'
    console.log(`| ${fault} | ${nodes} | ${o.seeds} | ${twice} | ${most} | ${deaths} | ${violations} | ${s} |`)
  }
}
