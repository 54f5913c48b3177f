// `npm run bench`: every benchmark, one after another (they share 2 cores; running them together would
// measure the contention). Each writes its own results file under docs/; docs/benchmarks.md indexes them.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const here = dirname(fileURLToPath(import.meta.url))
// `npm run bench -- runtime --parts idle,breakdown`: names first, then the flags, which go to each benchmark run.
const argv = process.argv.slice(2)
const firstFlag = argv.findIndex((a) => a.startsWith('-'))
const only = firstFlag < 0 ? argv : argv.slice(0, firstFlag)
const passed = firstFlag < 0 ? [] : argv.slice(firstFlag)
const benches = [
  { name: 'membership', file: 'membership.ts', out: 'docs/bench-membership.md' },
  { name: 'tasks', file: 'tasks.ts', out: 'docs/bench-tasks.md' },
  { name: 'floods', file: 'floods.ts', out: 'docs/bench-floods.md' },
  { name: 'runtime', file: 'runtime.ts', out: 'docs/bench-runtime.md' },
  { name: 'election', file: 'election.ts', out: 'docs/bench-election.md' },
  { name: 'security', file: 'security.ts', out: 'docs/bench-security.md' },
  { name: 'membership-faults', file: 'membership-faults.ts', out: 'docs/bench-membership-faults.md' },
]

let failed = 0
for (const b of benches) {
  if (only.length > 0 && !only.includes(b.name)) continue
  const file = join(here, b.file)
  if (!existsSync(file)) {
    console.error(`bench ${b.name}: ${file} is missing`)
    failed++
    continue
  }
  console.log(`\n=== bench ${b.name} (results: ${b.out}) ===`)
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...passed], { stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`bench ${b.name} exited with ${r.status ?? r.signal}`)
    failed++
  }
}
process.exit(failed > 0 ? 1 : 0)
