// Election benchmark with real agents on 127.0.0.1, started as README.md tells a user (bootstrap to node-1, no
// --expect): how long from the last member being seen by everyone to full fault tolerance (the voter set holds
// min(N, voters) members, so the cluster survives the loss of floor((voters - 1) / 2) voters), and how long after a
// voter is killed until the set is full again (voterDeadAfterMs plus detection). Writes docs/bench-election.md.
// A benchmark, not a test: nothing here asserts.
//
//   npx tsx scripts/bench/election.ts [--sizes 5,10] [--reps 3] [--out docs/bench-election.md]
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import type { StatusView } from '../../src/agent/types.ts'
import { protocolDefaults } from '../../src/core/defaults.ts'
import { type AgentProc, Cluster } from '../../test/integration/harness.ts'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '5,10' },
    reps: { type: 'string', default: '3' },
    out: { type: 'string', default: 'docs/bench-election.md' },
  },
})
const sizes = args.sizes.split(',').map(Number)
const reps = Number(args.reps)
if (sizes.some((n) => !Number.isInteger(n) || n < 3 || n > 20) || !(reps >= 1 && reps <= 10)) {
  console.error('bench: --sizes takes integers 3..20, --reps 1..10')
  process.exit(2)
}

const POLL_MS = 50
/** Every wait is bounded: a run that does not get there is reported as missed. */
const LIMIT_MS = 90_000

async function statuses(agents: AgentProc[]): Promise<(StatusView | null)[]> {
  return Promise.all(agents.map((a) => a.status()))
}

async function until(agents: AgentProc[], cond: (st: (StatusView | null)[]) => boolean): Promise<number | null> {
  const end = performance.now() + LIMIT_MS
  while (performance.now() < end) {
    if (cond(await statuses(agents))) return performance.now()
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
  return null
}

interface Run {
  n: number
  startToSeenMs: number | null
  seenToMasterMs: number | null
  seenToFullMs: number | null
  killToFullAgainMs: number | null
}

async function runOnce(n: number): Promise<Run> {
  const cluster = new Cluster()
  try {
    const t0 = performance.now()
    const first = await cluster.spawn('node-1', [])
    const seed = `/ip4/127.0.0.1/tcp/${first.spec.p2pPort}`
    const agents = [first]
    for (let i = 2; i <= n; i++) agents.push(await cluster.spawn(`node-${i}`, [seed]))
    const ids = agents.map((a) => a.id)
    const want = Math.min(n, protocolDefaults.voters)
    const seen = await until(agents, (st) => st.every((s) => s !== null && ids.every((id) => s.members.find((m) => m.id === id)?.state === 'alive')))
    const master = seen === null ? null : await until(agents, (st) => st.every((s) => s?.master?.id === 'node-1'))
    const full = (alive: AgentProc[]) => (st: (StatusView | null)[]) => {
      const v = st.map((s) => (s ? s.voters.join(',') : null))
      return st.every((s) => s !== null && s.master !== null) && new Set(v).size === 1 && (st[0]?.voters.length ?? 0) === Math.min(alive.length, protocolDefaults.voters)
    }
    const fullAt = master === null ? null : await until(agents, full(agents))
    // Kill one voter that is not the master: the master replaces it after voterDeadAfterMs (plus detection).
    let again: number | null = null
    if (fullAt !== null) {
      const st = await agents[0].status()
      const victim = agents.find((a) => a.id !== 'node-1' && st?.voters.includes(a.id))
      if (victim) {
        const tk = performance.now()
        await victim.kill()
        const rest = agents.filter((a) => a !== victim)
        const back = await until(rest, (s) => full(rest)(s) && s.every((x) => !x!.voters.includes(victim.id)) && (n > protocolDefaults.voters ? (s[0]?.voters.length ?? 0) === protocolDefaults.voters : true))
        again = back === null ? null : back - tk
      }
    }
    return {
      n,
      startToSeenMs: seen === null ? null : seen - t0,
      seenToMasterMs: seen === null || master === null ? null : master - seen,
      seenToFullMs: seen === null || fullAt === null ? null : fullAt - seen,
      killToFullAgainMs: again,
    }
  } finally {
    await cluster.destroy()
  }
}

const fmt = (v: number | null) => (v === null ? 'missed' : (v / 1000).toFixed(2))
const median = (xs: (number | null)[]) => {
  const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b)
  return v.length === 0 ? null : v[Math.floor(v.length / 2)]
}

const results: Run[] = []
for (const n of sizes) {
  for (let r = 0; r < reps; r++) {
    const run = await runOnce(n)
    results.push(run)
    console.log(`N=${n} rep ${r + 1}: start->all seen ${fmt(run.startToSeenMs)} s, seen->master ${fmt(run.seenToMasterMs)} s, seen->full voters ${fmt(run.seenToFullMs)} s, voter killed->full again ${fmt(run.killToFullAgainMs)} s`)
  }
}

const rows = sizes.map((n) => {
  const rs = results.filter((r) => r.n === n)
  return `| ${n} | ${Math.min(n, protocolDefaults.voters)} | ${rs.length} | ${fmt(median(rs.map((r) => r.startToSeenMs)))} | ${fmt(median(rs.map((r) => r.seenToMasterMs)))} | ${fmt(median(rs.map((r) => r.seenToFullMs)))} | ${fmt(median(rs.map((r) => r.killToFullAgainMs)))} |`
})
const doc = `# Election benchmark: time to full fault tolerance

Measured ${new Date().toISOString()} on ${cpus().length} cores (load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} at the end) with
\`npx tsx scripts/bench/election.ts --sizes ${sizes.join(',')} --reps ${reps}\`: real agents on 127.0.0.1 started as
README.md tells a user (node-1 first, the others with \`--bootstrap\` to it, no \`--expect\`, mDNS off because the
root namespace must not multicast), polled every ${POLL_MS} ms. Medians over the repetitions.

- **all seen**: from the first process start until every agent sees every member alive (includes process start-up).
- **master**: from all seen until every agent names node-1 master. A new cluster first listens for an existing one
  for the discovery window (${protocolDefaults.discoveryWindowMs} ms from the first agent's start), so this is the
  rest of that window plus one lease round.
- **full voters**: from all seen until every agent holds the same voter config with min(N, ${protocolDefaults.voters})
  voters, i.e. the cluster survives the loss of floor((voters - 1) / 2) voters. Members seen during the window are
  voters from the start (the bootstrap config); later joiners are added one change at a time after the
  ${protocolDefaults.stabilityWindowMs} ms stability window.
- **full again**: a voter other than the master is SIGKILLed; time until the voter set is full again without it
  (replaced by a member without a vote when there is one, else dropped). Dominated by voterDeadAfterMs
  (${protocolDefaults.voterDeadAfterMs} ms) plus failure detection.

| N | voters | runs | all seen s | all seen -> master s | all seen -> full voters s | voter killed -> full again s |
|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}
`
writeFileSync(args.out, doc)
console.log(`\nwrote ${args.out}`)
