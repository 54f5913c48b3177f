// Summary of a batch of runs: what a person reads after `npm run sim`.
import type { RunResult } from './run.ts'

export interface Dist {
  n: number
  p50: number | null
  p99: number | null
  max: number | null
}

export function dist(values: number[]): Dist {
  if (values.length === 0) return { n: 0, p50: null, p99: null, max: null }
  const s = [...values].sort((a, b) => a - b)
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] }
}

export interface Summary {
  seeds: number
  failed: number
  wallMs: number
  seedsPerSecond: number
  violations: Record<string, number>
  failingSeeds: number[]
  falsePositives: number
  falsePositivesStrict: number
  convergenceMs: Dist
  failoverMs: Dist
  tasks: { submitted: number; acked: number; failed: number; executions: number; crossNodeDuplicates: number }
  nodes: { min: number; max: number }
  virtualSeconds: number
  messages: number
  events: number
  faults: Record<string, number>
}

export function summarize(results: Omit<RunResult, 'trace'>[], wallMs: number): Summary {
  const violations: Record<string, number> = {}
  const faults: Record<string, number> = {}
  const tasks = { submitted: 0, acked: 0, failed: 0, executions: 0, crossNodeDuplicates: 0 }
  for (const r of results) {
    for (const v of r.violations) violations[v.kind] = (violations[v.kind] ?? 0) + 1
    for (const [k, c] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + c
    tasks.submitted += r.tasks.submitted
    tasks.acked += r.tasks.acked
    tasks.failed += r.tasks.failed
    tasks.executions += r.tasks.executions
    tasks.crossNodeDuplicates += r.tasks.crossNodeDuplicates
  }
  const failing = results.filter((r) => !r.ok)
  return {
    seeds: results.length,
    failed: failing.length,
    wallMs,
    seedsPerSecond: results.length / (wallMs / 1000),
    violations,
    failingSeeds: failing.map((r) => r.seed),
    falsePositives: results.reduce((a, r) => a + r.falsePositives, 0),
    falsePositivesStrict: results.reduce((a, r) => a + r.falsePositivesStrict, 0),
    convergenceMs: dist(results.flatMap((r) => (r.convergenceMs === null ? [] : [r.convergenceMs]))),
    failoverMs: dist(results.flatMap((r) => r.failoversMs)),
    tasks,
    nodes: { min: Math.min(...results.map((r) => r.nodes)), max: Math.max(...results.map((r) => r.nodes)) },
    virtualSeconds: results.reduce((a, r) => a + r.virtualMs, 0) / 1000,
    messages: results.reduce((a, r) => a + r.messages, 0),
    events: results.reduce((a, r) => a + r.events, 0),
    faults,
  }
}

const ms = (v: number | null) => (v === null ? '-' : `${Math.round(v)} ms`)

export function formatSummary(s: Summary): string {
  const lines: string[] = []
  lines.push(`seeds run:        ${s.seeds} (${s.nodes.min === s.nodes.max ? s.nodes.min : `${s.nodes.min}-${s.nodes.max}`} nodes), ${s.failed} failing`)
  lines.push(`speed:            ${s.seedsPerSecond.toFixed(1)} seeds/s, ${(s.virtualSeconds / (s.wallMs / 1000)).toFixed(0)}x real time (${(s.wallMs / 1000).toFixed(1)} s wall, ${s.virtualSeconds.toFixed(0)} virtual s, ${s.events} events)`)
  const vk = Object.entries(s.violations)
  lines.push(`violations:       ${vk.length === 0 ? 'none' : vk.map(([k, c]) => `${k}=${c}`).join(' ')}`)
  lines.push(`false positives:  ${s.falsePositives} live nodes declared dead (${s.falsePositivesStrict} with no fault near them)`)
  lines.push(`convergence:      after faults stop p50 ${ms(s.convergenceMs.p50)}, p99 ${ms(s.convergenceMs.p99)}, max ${ms(s.convergenceMs.max)} (${s.convergenceMs.n} runs)`)
  lines.push(`master failover:  p50 ${ms(s.failoverMs.p50)}, p99 ${ms(s.failoverMs.p99)}, max ${ms(s.failoverMs.max)} (${s.failoverMs.n} crashes/pauses of the master measured)`)
  lines.push(`tasks:            ${s.tasks.submitted} submitted, ${s.tasks.acked} acknowledged, ${s.tasks.failed} failed or timed out, ${s.tasks.executions} executions (${s.tasks.crossNodeDuplicates} re-run on a second node after failover)`)
  lines.push(`faults injected:  ${Object.entries(s.faults).map(([k, c]) => `${k}=${c}`).join(' ') || 'none'}`)
  lines.push(`messages:         ${s.messages}`)
  return `${lines.join('\n')}\n`
}
