// Scale study: how dissemination time, detection time and message load grow with the cluster size, measured
// with the simulator on the real core. Run: npx tsx src/sim/scale-study.ts [--sizes 5,10,...] [--out docs]
//
// Per size N and per mode (gossipsub broadcast on, or off = SWIM's piggybacked gossip only):
//  1. boot N nodes (bootstrap list: node-1..node-3), with broadcast on so the cluster forms fast, and wait
//     until every node sees N alive;
//  2. switch to the mode and count messages over a quiet window: messages per node per second;
//  3. start one more node: dissemination time = until every node knows it alive;
//  4. crash a node (never the master): first suspicion, first dead verdict, dead at every node.
import { writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { World, type SimNode } from './world.ts'
import { defaultNetwork } from './network.ts'
import { protocolDefaults } from '../core/defaults.ts'
import type { CoreEvent } from '../core/types.ts'

export interface Measurement {
  n: number
  broadcast: boolean
  tickMs: number
  formedMs: number | null
  /** Messages per node per second in the quiet window: all, membership only (SWIM), election (leases). */
  msgsPerNodeSec: number
  swimMsgsPerNodeSec: number
  leaseMsgsPerNodeSec: number
  joinDisseminationMs: number | null
  firstSuspicionMs: number | null
  firstDeadMs: number | null
  allDeadMs: number | null
  deadDisseminationMs: number | null
  wallMs: number
}

const SWIM_TYPES = new Set(['ping', 'ack', 'nack', 'ping-req', 'sync', 'updates', 'updates(broadcast)', 'leave', 'leave(broadcast)'])
const LEASE_TYPES = new Set(['lease-req', 'lease-ack', 'lease-release'])

function countMessages(w: World): { all: number; swim: number; lease: number } {
  let all = 0
  let swim = 0
  let lease = 0
  for (const [t, c] of w.counters.byType) {
    if (t === 'self-send') continue
    all += c
    if (SWIM_TYPES.has(t)) swim += c
    else if (LEASE_TYPES.has(t) || LEASE_TYPES.has(t.replace('(broadcast)', ''))) lease += c
  }
  return { all, swim, lease }
}

/** Run until `cond` holds (checked every `stepMs`) or `limitMs` more virtual time passed. Returns the time or null. */
function runUntilCond(w: World, cond: () => boolean, limitMs: number, stepMs = 50): number | null {
  const end = w.now + limitMs
  while (w.now < end && !w.fatal) {
    w.runUntil(w.now + stepMs)
    if (cond()) return w.now
  }
  return null
}

export function measure(n: number, broadcast: boolean, seed: number, tickMs: number): Measurement {
  const wall = performance.now()
  const w = new World({
    seed,
    quorum: 'majority',
    expect: n,
    network: { ...defaultNetwork, loss: 0 },
    skew: 0.01,
    tickMs,
    broadcast: true,
    protocol: {},
    checks: false,
    statusEveryMs: 1000,
    lossBound: 0,
    disturbWindowMs: 0,
    trace: false,
    traceMessages: false,
    hash: false,
  })
  // Who knows whom: filled from member-joined / member-state events (cheaper than status() at large N).
  const aliveView = new Map<string, Set<string>>()
  const deadView = new Map<string, Set<string>>()
  let suspectAt: number | null = null
  let firstDeadAt: number | null = null
  let crashed: SimNode | null = null
  const onEmit = (node: SimNode, e: CoreEvent, t: number) => {
    const alive = aliveView.get(node.id) ?? aliveView.set(node.id, new Set([node.id])).get(node.id)!
    if (e.type === 'member-joined') {
      if (e.member.state === 'alive' || e.member.state === 'suspect') alive.add(e.member.id)
    } else if (e.type === 'member-state') {
      if (e.member.state === 'alive' || e.member.state === 'suspect') alive.add(e.member.id)
      else alive.delete(e.member.id)
      if (crashed && e.member.id === crashed.id) {
        if (e.member.state === 'suspect' && suspectAt === null) suspectAt = t
        if (e.member.state === 'dead') {
          if (firstDeadAt === null) firstDeadAt = t
          ;(deadView.get(node.id) ?? deadView.set(node.id, new Set()).get(node.id)!).add(e.member.id)
        }
      }
    } else if (e.type === 'member-removed') {
      alive.delete(e.id)
    } else if (e.type === 'suspicion' && crashed && e.id === crashed.id && suspectAt === null) {
      suspectAt = t
    }
  }
  w.emitListeners.push(onEmit)

  for (let i = 1; i <= n; i++) w.addNode(i)
  const seeds = w.nodes.slice(0, Math.min(3, n))
  // Stagger the boot over a second, like agents started by a deployment tool.
  for (const node of w.nodes) {
    const s = seeds.filter((x) => x !== node)
    w.call(w.rng() * 1000, () => w.start(node, s.length ? s : []))
  }
  const up = () => w.nodes.filter((x) => x.state === 'up')
  const everyoneKnows = (id: string) => up().every((x) => x.id === id || aliveView.get(x.id)?.has(id))
  const formed = runUntilCond(
    w,
    () => up().length === n && up().every((x) => (aliveView.get(x.id)?.size ?? 0) >= n),
    60_000 + n * 30,
    100,
  )

  // Quiet window in the chosen mode.
  w.opts.broadcast = broadcast
  w.runUntil(w.now + 3000)
  const before = countMessages(w)
  const windowMs = 5000
  w.runUntil(w.now + windowMs)
  const after = countMessages(w)
  const per = (a: number, b: number) => (b - a) / n / (windowMs / 1000)

  // Dissemination of a join.
  const newcomer = w.addNode(n + 1)
  const joinStart = w.now
  w.start(newcomer, seeds)
  const joined = runUntilCond(w, () => everyoneKnows(newcomer.id), 60_000, 10)

  // Detection of a crash: a node in the middle of the id range (not the master, not a bootstrap node).
  w.runUntil(w.now + 2000)
  crashed = w.byId.get(`node-${Math.max(4, Math.ceil(n / 2))}`) ?? null
  let crashAt = w.now
  let allDead: number | null = null
  if (crashed && crashed.state === 'up') {
    crashAt = w.now
    w.crash(crashed)
    const victim = crashed
    allDead = runUntilCond(w, () => up().every((x) => deadView.get(x.id)?.has(victim.id)), 60_000, 10)
  }
  return {
    n,
    broadcast,
    tickMs,
    formedMs: formed,
    msgsPerNodeSec: per(before.all, after.all),
    swimMsgsPerNodeSec: per(before.swim, after.swim),
    leaseMsgsPerNodeSec: per(before.lease, after.lease),
    joinDisseminationMs: joined === null ? null : joined - joinStart,
    firstSuspicionMs: suspectAt === null ? null : suspectAt - crashAt,
    firstDeadMs: firstDeadAt === null ? null : firstDeadAt - crashAt,
    allDeadMs: allDead === null ? null : allDead - crashAt,
    deadDisseminationMs: allDead === null || firstDeadAt === null ? null : allDead - firstDeadAt,
    wallMs: performance.now() - wall,
  }
}

// ---- report ----

const fmtMs = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v)}`)

/** SWIM (Das, Gupta, Motivala 2002): expected first detection e/(e-1) protocol periods after the crash. */
export function swimExpectations(n: number) {
  const T = protocolDefaults.probeIntervalMs
  const firstDetection = (Math.E / (Math.E - 1)) * T
  // Infection-style dissemination: an update reaches everyone w.h.p. in about lambda * log(n) periods; each node
  // forwards an update on its next probe (one message per period), so the expected spread is ~ log2(n) + ln(n) periods.
  const disseminationPeriods = Math.log2(n) + Math.log(n)
  return { T, firstDetection, disseminationMs: disseminationPeriods * T }
}

function svgPlot(results: Measurement[], path: string): void {
  const W = 900
  const H = 620
  const panels = [
    { title: 'Join dissemination (ms)', key: (m: Measurement) => m.joinDisseminationMs, y0: 0 },
    { title: 'Crash: dead at every node (ms)', key: (m: Measurement) => m.allDeadMs, y0: 0 },
    { title: 'Crash: first suspicion (ms)', key: (m: Measurement) => m.firstSuspicionMs, y0: 0 },
    { title: 'Messages per node per second', key: (m: Measurement) => m.msgsPerNodeSec, y0: 0 },
  ]
  const ns = [...new Set(results.map((r) => r.n))].sort((a, b) => a - b)
  const lx = (n: number) => Math.log10(n)
  const minX = lx(ns[0])
  const maxX = lx(ns[ns.length - 1])
  const pw = 380
  const ph = 220
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`)
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  panels.forEach((p, i) => {
    const ox = 60 + (i % 2) * (pw + 70)
    const oy = 40 + Math.floor(i / 2) * (ph + 80)
    const vals = results.map(p.key).filter((v): v is number => v !== null)
    let maxY = Math.max(1, ...vals) * 1.1
    if (i === 2) maxY = Math.max(maxY, swimExpectations(10).firstDetection * 1.3)
    const x = (n: number) => ox + ((lx(n) - minX) / Math.max(1e-9, maxX - minX)) * pw
    const y = (v: number) => oy + ph - (v / maxY) * ph
    out.push(`<text x="${ox}" y="${oy - 10}" font-weight="bold" font-size="12">${p.title}</text>`)
    out.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`)
    for (const n of ns) {
      out.push(`<line x1="${x(n)}" y1="${oy + ph}" x2="${x(n)}" y2="${oy + ph + 4}" stroke="#666"/>`)
      out.push(`<text x="${x(n)}" y="${oy + ph + 16}" text-anchor="middle">${n}</text>`)
    }
    for (let k = 0; k <= 4; k++) {
      const v = (maxY / 4) * k
      out.push(`<line x1="${ox - 4}" y1="${y(v)}" x2="${ox + pw}" y2="${y(v)}" stroke="#eee"/>`)
      out.push(`<text x="${ox - 6}" y="${y(v) + 4}" text-anchor="end">${v >= 100 ? Math.round(v) : v.toFixed(1)}</text>`)
    }
    out.push(`<text x="${ox + pw / 2}" y="${oy + ph + 32}" text-anchor="middle">N (cluster size, log scale)</text>`)
    const series = [
      { b: true, color: '#1f77b4', label: 'broadcast on' },
      { b: false, color: '#d62728', label: 'broadcast off (SWIM piggyback only)' },
    ]
    for (const s of series) {
      const pts = results
        .filter((r) => r.broadcast === s.b)
        .sort((a, b) => a.n - b.n)
        .map((r) => [r.n, p.key(r)] as const)
        .filter((pt): pt is readonly [number, number] => pt[1] !== null)
      if (pts.length === 0) continue
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map(([n, v]) => `${x(n).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`)
      for (const [n, v] of pts) out.push(`<circle cx="${x(n).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${s.color}"/>`)
    }
    // SWIM's analytical expectation where there is one.
    if (i === 2) {
      const e = swimExpectations(10).firstDetection
      out.push(`<line x1="${ox}" y1="${y(e)}" x2="${ox + pw}" y2="${y(e)}" stroke="#2ca02c" stroke-dasharray="5,4"/>`)
      out.push(`<text x="${ox + pw - 4}" y="${y(e) - 4}" text-anchor="end" fill="#2ca02c">SWIM: e/(e-1) T = ${Math.round(e)} ms</text>`)
    }
    if (i === 0) {
      const pts = ns.map((n) => [n, swimExpectations(n).disseminationMs] as const).filter(([, v]) => v <= maxY)
      if (pts.length > 1) {
        out.push(`<polyline fill="none" stroke="#2ca02c" stroke-dasharray="5,4" points="${pts.map(([n, v]) => `${x(n).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`)
        out.push(`<text x="${x(pts[pts.length - 1][0]) - 4}" y="${y(pts[pts.length - 1][1]) - 6}" text-anchor="end" fill="#2ca02c">piggyback only, O(log N) periods</text>`)
      }
    }
  })
  const ly = H - 18
  out.push(`<circle cx="70" cy="${ly - 4}" r="4" fill="#1f77b4"/><text x="80" y="${ly}">broadcast on (gossipsub flood + piggyback)</text>`)
  out.push(`<circle cx="360" cy="${ly - 4}" r="4" fill="#d62728"/><text x="370" y="${ly}">broadcast off (piggyback only, as in SWIM)</text>`)
  out.push(`<line x1="640" y1="${ly - 4}" x2="670" y2="${ly - 4}" stroke="#2ca02c" stroke-dasharray="5,4"/><text x="676" y="${ly}">SWIM analytical expectation</text>`)
  out.push('</svg>')
  writeFileSync(path, `${out.join('\n')}\n`)
}

function table(results: Measurement[]): string {
  const rows = [
    '| N | broadcast | tick ms | msgs/node/s (all) | SWIM msgs/node/s | lease msgs/node/s | join reaches all (ms) | first suspicion (ms) | first dead (ms) | dead everywhere (ms) | dead verdict spread (ms) | SWIM first detection (ms) | wall s |',
    '|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of results) {
    const e = swimExpectations(r.n)
    rows.push(
      `| ${r.n} | ${r.broadcast ? 'on' : 'off'} | ${r.tickMs} | ${r.msgsPerNodeSec.toFixed(1)} | ${r.swimMsgsPerNodeSec.toFixed(1)} | ${r.leaseMsgsPerNodeSec.toFixed(1)} | ${fmtMs(r.joinDisseminationMs)} | ${fmtMs(r.firstSuspicionMs)} | ${fmtMs(r.firstDeadMs)} | ${fmtMs(r.allDeadMs)} | ${fmtMs(r.deadDisseminationMs)} | ${Math.round(e.firstDetection)} | ${(r.wallMs / 1000).toFixed(1)} |`,
    )
  }
  return rows.join('\n')
}

async function main(): Promise<void> {
  const program = new Command()
    .name('scale-study')
    .option('--sizes <list>', 'cluster sizes', (v) => {
      const xs = v.split(',').map(Number)
      if (xs.some((x) => !Number.isInteger(x) || x < 4)) throw new InvalidArgumentError('sizes must be integers >= 4')
      return xs
    }, [5, 10, 20, 50, 100, 200, 500, 1000, 2000])
    .option('--seed <s>', 'seed', (v) => Number(v), 1)
    .option('--tick <ms>', 'core tick period (the agent uses 50)', (v) => Number(v), 50)
    .option('--out <dir>', 'where to write scale-study.json and scale-study.svg', 'docs')
    .option('--modes <list>', 'on,off', 'on,off')
  program.parse(process.argv)
  const o = program.opts()
  const modes = (o.modes as string).split(',').map((m) => m.trim() === 'on')
  const results: Measurement[] = []
  mkdirSync(o.out, { recursive: true })
  for (const n of o.sizes as number[]) {
    for (const b of modes) {
      const m = measure(n, b, o.seed + n, o.tick)
      results.push(m)
      process.stdout.write(
        `N=${n} broadcast=${b ? 'on' : 'off'}: formed ${fmtMs(m.formedMs)} ms, ${m.msgsPerNodeSec.toFixed(1)} msgs/node/s (swim ${m.swimMsgsPerNodeSec.toFixed(1)}), join ${fmtMs(m.joinDisseminationMs)} ms, suspect ${fmtMs(m.firstSuspicionMs)} ms, first dead ${fmtMs(m.firstDeadMs)} ms, all dead ${fmtMs(m.allDeadMs)} ms (${(m.wallMs / 1000).toFixed(1)} s wall)\n`,
      )
      writeFileSync(join(o.out, 'scale-study.json'), `${JSON.stringify(results, null, 2)}\n`)
    }
  }
  svgPlot(results, join(o.out, 'scale-study.svg'))
  process.stdout.write(`\n${table(results)}\n`)
}

if (process.argv[1]?.endsWith('scale-study.ts')) {
  main().catch((err) => {
    process.stderr.write(`scale-study: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
