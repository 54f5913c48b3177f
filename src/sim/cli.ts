// `npm run sim -- --seeds 1000 --nodes 7 [--faults ...]`: run many seeded simulations and summarise them;
// `--seed S ... --trace` replays one run exactly and prints its event trace.
import { Command, InvalidArgumentError, Option } from 'commander'
import { parseFaults, FAULT_KINDS } from './faults.ts'
import { defaultRunOptions, runSeed, type RunOptions, type RunResult } from './run.ts'
import { hashString } from './rng.ts'
import { summarize, formatSummary } from './summary.ts'
import { runParallel, type BatchResult } from './batch.ts'

export interface NodeRange {
  min: number
  max: number
}

export function parseNodes(v: string): NodeRange {
  const m = /^(\d+)(?:-(\d+))?$/.exec(v.trim())
  if (!m) throw new InvalidArgumentError(`expected a number or a range like 3-15, got "${v}"`)
  const min = Number(m[1])
  const max = m[2] === undefined ? min : Number(m[2])
  if (min < 1 || max < min) throw new InvalidArgumentError(`bad node range "${v}"`)
  return { min, max }
}

/** The cluster size of one seed: fixed, or drawn from the range by the seed itself (so a replay gets it back). */
export function nodesFor(seed: number, range: NodeRange): number {
  if (range.min === range.max) return range.min
  return range.min + (hashString(`nodes:${seed}`) % (range.max - range.min + 1))
}

function int(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`)
    return n
  }
}

function prob(name: string) {
  return (v: string): number => {
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${name} must be in [0, 1]`)
    return n
  }
}

function num(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v)
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number >= ${min}`)
    return n
  }
}

/** The one-line command that replays one seed exactly (options that differ from the defaults included). */
export function replayCommand(r: { seed: number; nodes: number }, o: Omit<RunOptions, 'seed' | 'nodes' | 'trace' | 'traceMessages'>): string {
  const d = defaultRunOptions
  const parts = ['npm run sim --', `--seed ${r.seed}`, `--nodes ${r.nodes}`]
  parts.push(`--faults ${o.faults.length ? o.faults.join(',') : 'none'}`)
  if (o.durationMs !== d.durationMs) parts.push(`--duration ${o.durationMs}`)
  if (o.loss !== d.loss) parts.push(`--loss ${o.loss}`)
  if (o.quorum !== d.quorum) parts.push(`--quorum ${o.quorum}`)
  if (o.skew !== d.skew) parts.push(`--skew ${o.skew}`)
  if (o.tickMs !== d.tickMs) parts.push(`--tick ${o.tickMs}`)
  if (o.taskRate !== d.taskRate) parts.push(`--tasks ${o.taskRate}`)
  if (o.settleMaxMs !== d.settleMaxMs) parts.push(`--settle ${o.settleMaxMs}`)
  if (o.lossBound !== d.lossBound) parts.push(`--loss-bound ${o.lossBound}`)
  if (!o.broadcast) parts.push('--no-broadcast')
  if (o.coldStart !== 'mixed') parts.push('--cold-start', o.coldStart)
  parts.push('--trace')
  return parts.join(' ')
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('npm run sim --')
    .description('Deterministic simulation of the conclave protocol core under faults')
    .option('--seeds <n>', 'number of seeds to run', int('--seeds', 1), 100)
    .option('--first-seed <s>', 'first seed of the batch', int('--first-seed'), 1)
    .option('--seed <s>', 'run exactly this seed (replay)', int('--seed'))
    .option('--nodes <n|a-b>', 'cluster size, or a range each seed picks from', parseNodes, { min: 7, max: 7 })
    .option('--faults <list>', `fault mix: ${FAULT_KINDS.join(',')}, all, or none`, 'all')
    .option('--duration <ms>', 'length of the fault phase in virtual ms', int('--duration'), defaultRunOptions.durationMs)
    .option('--settle <ms>', 'convergence bound after faults stop', int('--settle', 1), defaultRunOptions.settleMaxMs)
    .option('--loss <p>', 'base loss probability of every message', prob('--loss'), defaultRunOptions.loss)
    .option('--loss-bound <p>', 'loss at or below which a false positive is a violation', prob('--loss-bound'), defaultRunOptions.lossBound)
    .addOption(new Option('--quorum <mode>', 'election mode').choices(['majority', 'none']).default('majority'))
    .option('--skew <f>', 'clock-rate skew bound (0.01 = +-1%)', num('--skew'), defaultRunOptions.skew)
    .option('--tick <ms>', 'least virtual ms between two ticks of a core (they come at its next deadline)', num('--tick', 1), defaultRunOptions.tickMs)
    .option('--tasks <rate>', 'masterOnly task submissions per virtual second', num('--tasks'), defaultRunOptions.taskRate)
    .option('--no-broadcast', 'drop broadcast effects (piggybacked gossip only, like the SWIM paper)')
    .addOption(new Option('--cold-start <mode>', 'expect (--expect N), window (the default a user runs) or mixed (window for odd seeds)').choices(['expect', 'window', 'mixed']).default('mixed'))
    .option('--trace', 'print the event trace of each run (use with --seed)')
    .option('--trace-messages', 'include every message and observation in the trace')
    .option('--json', 'print the summary as JSON')
    .option('--max-failures <n>', 'failing seeds to list', int('--max-failures', 1), 10)
    .option('--jobs <n>', 'run seeds in this many child processes', int('--jobs', 1), 1)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })

  try {
    program.parse(argv, { from: 'user' })
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode
    return code === 0 ? 0 : 2
  }
  const opts = program.opts()
  let faults
  try {
    faults = parseFaults(opts.faults)
  } catch (err) {
    process.stderr.write(`error: option '--faults': ${(err as Error).message}\n`)
    return 2
  }
  const base: Omit<RunOptions, 'seed' | 'nodes'> = {
    ...defaultRunOptions,
    quorum: opts.quorum,
    faults,
    durationMs: opts.duration,
    settleMaxMs: opts.settle,
    loss: opts.loss,
    lossBound: opts.lossBound,
    skew: opts.skew,
    tickMs: opts.tick,
    taskRate: opts.tasks,
    broadcast: opts.broadcast,
    coldStart: opts.coldStart,
    trace: Boolean(opts.trace) || Boolean(opts.traceMessages),
    traceMessages: Boolean(opts.traceMessages),
  }
  const range: NodeRange = opts.nodes
  const seeds: number[] = opts.seed !== undefined ? [opts.seed] : Array.from({ length: opts.seeds }, (_, i) => opts.firstSeed + i)
  const started = performance.now()
  let results: BatchResult[]
  const progress = (done: number) => {
    if (seeds.length > 1 && !opts.json && done % 100 === 0) process.stderr.write(`  ${done}/${seeds.length} seeds\n`)
  }
  if (opts.jobs > 1 && !base.trace) {
    results = await runParallel({ base, runs: seeds.map((seed) => ({ seed, nodes: nodesFor(seed, range) })) }, Math.min(opts.jobs, seeds.length), progress)
  } else {
    results = []
    for (const seed of seeds) {
      const r: RunResult = runSeed({ ...base, seed, nodes: nodesFor(seed, range) })
      const { trace, ...rest } = r
      results.push(rest)
      if (base.trace) {
        process.stdout.write(`# trace of seed ${seed} (${r.nodes} nodes, hash ${r.traceHash})\n`)
        for (const line of trace) process.stdout.write(`${line}\n`)
      }
      progress(results.length)
    }
  }
  const wall = performance.now() - started
  const summary = summarize(results, wall)
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ...summary, failures: results.filter((r) => !r.ok).map((r) => ({ seed: r.seed, nodes: r.nodes, violations: r.violations, replay: replayCommand(r, base) })) }, null, 2)}\n`)
  } else {
    process.stdout.write(formatSummary(summary))
    const failing = results.filter((r) => !r.ok)
    for (const r of failing.slice(0, opts.maxFailures)) {
      const v = r.violations[0]
      process.stdout.write(`\nFAIL seed ${r.seed} (${r.nodes} nodes): ${v.kind} at ${(v.time / 1000).toFixed(3)}s${v.node ? ` on ${v.node}` : ''}: ${v.detail.split('\n')[0]}\n`)
      if (r.violations.length > 1) process.stdout.write(`  (+${r.violations.length - 1} more: ${[...new Set(r.violations.slice(1).map((x) => x.kind))].join(', ')})\n`)
      process.stdout.write(`  replay: ${replayCommand(r, base)}\n`)
    }
    if (failing.length > opts.maxFailures) process.stdout.write(`\n... and ${failing.length - opts.maxFailures} more failing seeds\n`)
  }
  return results.every((r) => r.ok) ? 0 : 1
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('src/sim/cli.ts')) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err) => {
      process.stderr.write(`sim: ${err instanceof Error ? err.message : String(err)}\n`)
      process.exitCode = 2
    },
  )
}
