// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package, for the idle-cost
// notes in docs/bench-runtime.md.   npx tsx scripts/bench/cpuprofile-summary.ts <file.cpuprofile> [--top 25] [--skip-s 10] [--last-s 0]
// --skip-s leaves out the first seconds (start-up, joining) so the figures are the idle agent's.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, 'skip-s': { type: 'string', default: '10' }, 'last-s': { type: 'string', default: '0' } } })
if (positionals.length !== 1) {
  console.error('usage: cpuprofile-summary.ts <file.cpuprofile> [--top n]')
  process.exit(2)
}
interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
const prof = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }
const byId = new Map(prof.nodes.map((n) => [n.id, n]))
// Self time per node: each sample's delta is charged to the node sampled.
const self = new Map<number, number>()
const skipUs = Number(values['skip-s']) * 1e6
// --last-s leaves out the last seconds (the agent's shutdown when the profile ends with SIGTERM).
const endUs = prof.endTime - prof.startTime - Number(values['last-s']) * 1e6
let t = 0
prof.samples.forEach((id, i) => {
  t += prof.timeDeltas[i] ?? 0
  if (t >= skipUs && t <= endUs) self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0))
})
const totalUs = endUs - skipUs
const parent = new Map<number, number>()
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const frameName = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}`.trim()
/** Self time of native leaves charged to their stack: the first few named frames above them. */
const stacks = new Map<string, number>()
for (const [id, us] of self) {
  const names: string[] = []
  for (let cur: number | undefined = id; cur !== undefined && names.length < 5; cur = parent.get(cur)) {
    const n = byId.get(cur)!
    if (n.callFrame.functionName === '(root)') break
    names.push(frameName(n))
  }
  const key = names.join(' < ')
  stacks.set(key, (stacks.get(key) ?? 0) + us)
}

const pkgOf = (url: string): string => {
  if (!url) return '(native/vm)'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m) return m[1]!
  if (url.startsWith('node:')) return 'node (built-in)'
  const d = /\/dist\/([^/]+)\//.exec(url)
  return d ? `conclave ${d[1]}` : url
}
const fn = new Map<string, number>()
const pkg = new Map<string, number>()
for (const [id, us] of self) {
  const n = byId.get(id)!
  const f = n.callFrame
  const file = f.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')
  const key = `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim()
  fn.set(key, (fn.get(key) ?? 0) + us)
  const p = ['(idle)', '(program)', '(garbage collector)'].includes(f.functionName) ? f.functionName : pkgOf(f.url)
  pkg.set(p, (pkg.get(p) ?? 0) + us)
}
const busyUs = totalUs - (pkg.get('(idle)') ?? 0)
const top = Number(values.top)
const pct = (us: number) => ((us / totalUs) * 100).toFixed(2)
console.log(`profile: ${(totalUs / 1e6).toFixed(1)} s, busy ${(busyUs / 1e6).toFixed(2)} s = ${pct(busyUs)} % of one core`)
console.log('\n| package / category | self ms | % of wall time |\n|---|---|---|')
for (const [k, us] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${k} | ${(us / 1000).toFixed(0)} | ${pct(us)} |`)
console.log('\n| function | self ms | % of wall time |\n|---|---|---|')
for (const [k, us] of [...fn].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| \`${k}\` | ${(us / 1000).toFixed(0)} | ${pct(us)} |`)
console.log('\n| stack (leaf < callers) | self ms | % of wall time |\n|---|---|---|')
for (const [k, us] of [...stacks].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| \`${k}\` | ${(us / 1000).toFixed(0)} | ${pct(us)} |`)
