// Scale study: how dissemination time, detection time and message load grow with the cluster size, measured
// with the simulator on the real core. Run: npx tsx src/sim/scale-study.ts [--sizes 5,10,...] [--out docs]
//
// Per size N and per mode (gossipsub broadcast on, or off = SWIM's piggybacked gossip only):
//  1. boot N nodes (bootstrap list: node-1..node-3), with broadcast on so the cluster forms fast, and wait
//     until every node sees N alive;
//  2. switch to the mode and count messages over a quiet window: messages per node per second;
//  3. start one more node: dissemination time = until every node knows it alive;
//  4. crash a node (never the master): first suspicion, first dead verdict, dead at every node.
import { writeFileSync, mkdirSync, readFileSync } from 'node:fs'
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
  /** Virtual ms between formation and the measurements (backlog drain). */
  settleMs: number
  formedMs: number | null
  /** Messages per node per second in the quiet window: all, membership only (SWIM), election (leases). */
  msgsPerNodeSec: number
  swimMsgsPerNodeSec: number
  leaseMsgsPerNodeSec: number
  /** Messages the master (node-1) sent per second: with capped voters its lease traffic is O(voters). */
  masterMsgsPerSec?: number
  joinDisseminationMs: number | null
  /** Time until half / 90% of the nodes know the newcomer (the epidemic's body, without its tail). */
  join50Ms: number | null
  join90Ms: number | null
  /** A silent failure (the process stops answering, no transport hint: SWIM's failure model). */
  silent: Detection
  /** A crash: the process dies and its peers' connections close (a hint that triggers an immediate probe). */
  crash: Detection
  virtualMs: number
  wallMs: number
}

export interface Detection {
  victim: string
  firstSuspicionMs: number | null
  firstDeadMs: number | null
  allDeadMs: number | null
  /** From the first dead verdict until every node has it: the dissemination of one update. */
  deadDisseminationMs: number | null
}

const SWIM_TYPES = new Set(['ping', 'ack', 'nack', 'ping-req', 'sync', 'digest', 'updates', 'updates(broadcast)', 'leave', 'leave(broadcast)'])
const LEASE_TYPES = new Set(['lease-req', 'lease-ack', 'lease-release'])

function countMessages(w: World): { all: number; swim: number; lease: number; master: number } {
  const master = w.counters.sentBy.get('node-1') ?? 0
  let all = 0
  let swim = 0
  let lease = 0
  for (const [t, c] of w.counters.byType) {
    all += c
    if (SWIM_TYPES.has(t)) swim += c
    else if (LEASE_TYPES.has(t) || LEASE_TYPES.has(t.replace('(broadcast)', ''))) lease += c
  }
  return { all, swim, lease, master }
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

export function measure(n: number, broadcast: boolean, seed: number, tickMs: number, settleMs = 1000): Measurement {
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
  const deadSeen = new Map<string, Set<string>>()
  const suspectAt = new Map<string, number>()
  const firstDeadAt = new Map<string, number>()
  const learnedNewcomer: number[] = []
  const newcomerId = `node-${n + 1}`
  const onEmit = (node: SimNode, e: CoreEvent, t: number) => {
    if ((e.type === 'member-joined' || e.type === 'member-state') && e.member.id === newcomerId && e.member.state === 'alive' && node.id !== newcomerId) {
      if (!aliveView.get(node.id)?.has(newcomerId)) learnedNewcomer.push(t)
    }
    const alive = aliveView.get(node.id) ?? aliveView.set(node.id, new Set([node.id])).get(node.id)!
    if (e.type === 'member-joined') {
      if (e.member.state === 'alive' || e.member.state === 'suspect') alive.add(e.member.id)
    } else if (e.type === 'member-state') {
      const id = e.member.id
      if (e.member.state === 'alive' || e.member.state === 'suspect') alive.add(id)
      else alive.delete(id)
      if (e.member.state === 'suspect' && !suspectAt.has(id)) suspectAt.set(id, t)
      if (e.member.state === 'dead') {
        if (!firstDeadAt.has(id)) firstDeadAt.set(id, t)
        ;(deadSeen.get(id) ?? deadSeen.set(id, new Set()).get(id)!).add(node.id)
      }
    } else if (e.type === 'member-removed') {
      alive.delete(e.id)
    } else if (e.type === 'suspicion' && !suspectAt.has(e.id)) {
      suspectAt.set(e.id, t)
    }
  }
  w.emitListeners.push(onEmit)

  for (let i = 1; i <= n; i++) w.addNode(i)
  const seeds = w.nodes.slice(0, Math.min(3, n))
  // Stagger the boot over a second, like agents started by a deployment tool.
  for (const node of w.nodes) {
    const s = seeds.filter((x) => x !== node)
    w.call(w.rng() * 1000, () => w.start(node, s))
  }
  const running = () => w.nodes.filter((x) => x.state === 'up')
  const everyoneKnows = (id: string) => running().every((x) => x.id === id || aliveView.get(x.id)?.has(id))
  const formed = runUntilCond(w, () => running().length === n && running().every((x) => (aliveView.get(x.id)?.size ?? 0) >= n), 60_000 + n * 30, 100)

  // Quiet window in the chosen mode. Formation leaves every node with N updates to piggyback (each up to
  // retransmitMult * ceil(log10(N + 1)) times, 8 per message); `settleMs` lets that backlog drain or not.
  w.opts.broadcast = broadcast
  w.runUntil(w.now + settleMs)
  const before = countMessages(w)
  const windowMs = 3000
  w.runUntil(w.now + windowMs)
  const after = countMessages(w)
  const per = (a: number, b: number) => (b - a) / n / (windowMs / 1000)

  // Dissemination of a join.
  const newcomer = w.addNode(n + 1)
  const joinStart = w.now
  w.start(newcomer, seeds)
  const joined = runUntilCond(w, () => everyoneKnows(newcomer.id), 60_000, 10)
  const quantile = (q: number) => {
    const k = Math.ceil(q * n) - 1
    return k < learnedNewcomer.length ? learnedNewcomer[k] - joinStart : null
  }
  w.runUntil(w.now + 1000)

  // Detection: never the master (node-1) nor a bootstrap node; the victims sit in the middle of the id range.
  const detect = (victim: SimNode, how: 'silent' | 'crash'): Detection => {
    const t0 = w.now
    if (how === 'silent') w.pause(victim)
    else w.crash(victim)
    const others = () => running().filter((x) => x !== victim)
    const all = runUntilCond(w, () => others().every((x) => deadSeen.get(victim.id)?.has(x.id)), 60_000, 10)
    const first = firstDeadAt.get(victim.id)
    const sus = suspectAt.get(victim.id)
    return {
      victim: victim.id,
      firstSuspicionMs: sus === undefined ? null : sus - t0,
      firstDeadMs: first === undefined ? null : first - t0,
      allDeadMs: all === null ? null : all - t0,
      deadDisseminationMs: all === null || first === undefined ? null : all - first,
    }
  }
  const mid = Math.max(4, Math.ceil(n / 2))
  const silent = detect(w.byId.get(`node-${mid}`)!, 'silent')
  w.runUntil(w.now + 1000)
  const crash = detect(w.byId.get(`node-${mid + 1}`)!, 'crash')
  return {
    n,
    broadcast,
    tickMs,
    settleMs,
    formedMs: formed,
    msgsPerNodeSec: per(before.all, after.all),
    swimMsgsPerNodeSec: per(before.swim, after.swim),
    leaseMsgsPerNodeSec: per(before.lease, after.lease),
    masterMsgsPerSec: (after.master - before.master) / (windowMs / 1000),
    joinDisseminationMs: joined === null ? null : joined - joinStart,
    join50Ms: quantile(0.5),
    join90Ms: quantile(0.9),
    silent,
    crash,
    virtualMs: w.now,
    wallMs: performance.now() - wall,
  }
}

// ---- report ----

const fmtMs = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v)}`)

/** SWIM (Das, Gupta, Motivala 2002): expected first detection e/(e-1) protocol periods after the crash. */
export function swimExpectations(n: number) {
  const T = protocolDefaults.probeIntervalMs
  const firstDetection = (Math.E / (Math.E - 1)) * T
  // Infection-style dissemination: the informed set at least doubles per period (each informed member pushes the
  // update on its probe, and on its acks), so most members have it after about log2(n) periods; the paper's bound
  // for reaching all w.h.p. is also O(log n) periods with lambda * log n retransmissions.
  const disseminationPeriods = Math.log2(n)
  return { T, firstDetection, disseminationMs: disseminationPeriods * T }
}

function svgPlot(results: Measurement[], path: string): void {
  const W = 900
  const H = 620
  const panels = [
    { title: 'Join known by 90% of nodes (ms)', key: (m: Measurement) => m.join90Ms ?? null, y0: 0 },
    { title: 'Silent failure: dead at every node (ms)', key: (m: Measurement) => m.silent.allDeadMs, y0: 0 },
    { title: 'Silent failure: first suspicion (ms)', key: (m: Measurement) => m.silent.firstSuspicionMs, y0: 0 },
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
      { b: true, drained: false, color: '#1f77b4', label: 'broadcast on' },
      { b: false, drained: false, color: '#d62728', label: 'broadcast off, 1 s after formation' },
      { b: false, drained: true, color: '#9467bd', label: 'broadcast off, formation backlog drained' },
    ]
    for (const s of series) {
      const pts = results
        .filter((r) => r.broadcast === s.b && ((r.settleMs ?? 1000) > 1000) === s.drained)
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
        out.push(`<text x="${x(pts[pts.length - 1][0]) - 4}" y="${y(pts[pts.length - 1][1]) - 6}" text-anchor="end" fill="#2ca02c">log2(N) periods</text>`)
      }
    }
  })
  const ly = H - 18
  out.push(`<circle cx="20" cy="${ly - 4}" r="4" fill="#1f77b4"/><text x="28" y="${ly}">broadcast on</text>`)
  out.push(`<circle cx="120" cy="${ly - 4}" r="4" fill="#d62728"/><text x="128" y="${ly}">off (piggyback only), 1 s after formation</text>`)
  out.push(`<circle cx="390" cy="${ly - 4}" r="4" fill="#9467bd"/><text x="398" y="${ly}">off, formation backlog drained</text>`)
  out.push(`<line x1="600" y1="${ly - 4}" x2="630" y2="${ly - 4}" stroke="#2ca02c" stroke-dasharray="5,4"/><text x="636" y="${ly}">SWIM analytical expectation</text>`)
  out.push('</svg>')
  writeFileSync(path, `${out.join('\n')}\n`)
}

function table(results: (Measurement & { trials?: number })[]): string {
  const rows = [
    '| N | broadcast | settle s | trials | msgs/node/s (all) | SWIM msgs/node/s | lease msgs/node/s | master msgs/s | join reaches 50% | join reaches 90% | join reaches all | silent: first suspicion | silent: first dead | silent: dead everywhere | silent: verdict spread | crash: first suspicion | crash: dead everywhere | SWIM E[first detection] | log2(N) periods | virtual s | wall s |',
    '|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const r of results) {
    const e = swimExpectations(r.n)
    rows.push(
      `| ${r.n} | ${r.broadcast ? 'on' : 'off'} | ${((r.settleMs ?? 1000) / 1000).toFixed(0)} | ${r.trials ?? 1} | ${r.msgsPerNodeSec.toFixed(1)} | ${r.swimMsgsPerNodeSec.toFixed(1)} | ${r.leaseMsgsPerNodeSec.toFixed(1)} | ${r.masterMsgsPerSec === undefined ? 'n/a' : r.masterMsgsPerSec.toFixed(1)} | ${fmtMs(r.join50Ms ?? null)} | ${fmtMs(r.join90Ms ?? null)} | ${fmtMs(r.joinDisseminationMs)} | ${fmtMs(r.silent.firstSuspicionMs)} | ${fmtMs(r.silent.firstDeadMs)} | ${fmtMs(r.silent.allDeadMs)} | ${fmtMs(r.silent.deadDisseminationMs)} | ${fmtMs(r.crash.firstSuspicionMs)} | ${fmtMs(r.crash.allDeadMs)} | ${Math.round(e.firstDetection)} | ${Math.round(e.disseminationMs)} | ${(r.virtualMs / 1000).toFixed(1)} | ${(r.wallMs / 1000).toFixed(1)} |`,
    )
  }
  return `All times in virtual ms.\n\n${rows.join('\n')}`
}

/** Mean over trials of one size and mode (nulls, i.e. not reached in the limit, are left out and counted). */
export function average(ms: Measurement[]): Measurement & { trials: number } {
  const mean = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null)
    return v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length
  }
  const det = (k: 'silent' | 'crash'): Detection => ({
    victim: ms.map((m) => m[k].victim).join(','),
    firstSuspicionMs: mean(ms.map((m) => m[k].firstSuspicionMs)),
    firstDeadMs: mean(ms.map((m) => m[k].firstDeadMs)),
    allDeadMs: mean(ms.map((m) => m[k].allDeadMs)),
    deadDisseminationMs: mean(ms.map((m) => m[k].deadDisseminationMs)),
  })
  return {
    n: ms[0].n,
    broadcast: ms[0].broadcast,
    tickMs: ms[0].tickMs,
    settleMs: ms[0].settleMs,
    formedMs: mean(ms.map((m) => m.formedMs)),
    msgsPerNodeSec: mean(ms.map((m) => m.msgsPerNodeSec)) ?? 0,
    swimMsgsPerNodeSec: mean(ms.map((m) => m.swimMsgsPerNodeSec)) ?? 0,
    leaseMsgsPerNodeSec: mean(ms.map((m) => m.leaseMsgsPerNodeSec)) ?? 0,
    masterMsgsPerSec: mean(ms.map((m) => m.masterMsgsPerSec ?? Number.NaN).filter((x) => !Number.isNaN(x))) ?? undefined,
    joinDisseminationMs: mean(ms.map((m) => m.joinDisseminationMs)),
    join50Ms: mean(ms.map((m) => m.join50Ms ?? null)),
    join90Ms: mean(ms.map((m) => m.join90Ms ?? null)),
    silent: det('silent'),
    crash: det('crash'),
    virtualMs: ms.reduce((a, m) => a + m.virtualMs, 0),
    wallMs: ms.reduce((a, m) => a + m.wallMs, 0),
    trials: ms.length,
  }
}

async function main(): Promise<void> {
  const list = (v: string) => {
    const xs = v.split(',').map(Number)
    if (xs.some((x) => !Number.isInteger(x) || x < 1)) throw new InvalidArgumentError('expected a comma-separated list of positive integers')
    return xs
  }
  const program = new Command()
    .name('scale-study')
    .option('--sizes <list>', 'cluster sizes', list, [5, 10, 20, 50, 100, 200, 500, 1000, 2000])
    .option('--trials <list>', 'trials per size (one number, or one per size)', list, [5])
    .option('--seed <s>', 'first seed', (v) => Number(v), 1)
    .option('--tick <ms>', 'core tick period (the agent uses 50)', (v) => Number(v), 50)
    .option('--out <dir>', 'where to write scale-study.json, scale-study.svg and scale-study-table.md', 'docs')
    .option('--modes <list>', 'broadcast modes to run: on,off', 'on,off')
    .option('--settle <ms|auto>', 'virtual ms between formation and the measurements; auto = 500 ms * N + 5 s (drains the formation backlog)', '1000')
    .option('--plot-only <files>', 'no runs: merge these result JSON files and write the plot and table')
  program.parse(process.argv)
  const o = program.opts()
  mkdirSync(o.out, { recursive: true })
  let results: (Measurement & { trials: number })[] = []
  if (o.plotOnly) {
    for (const f of (o.plotOnly as string).split(',')) results.push(...(JSON.parse(readFileSync(f, 'utf8')) as (Measurement & { trials: number })[]))
    results.sort((a, b) => a.n - b.n || Number(b.broadcast) - Number(a.broadcast) || (a.settleMs ?? 1000) - (b.settleMs ?? 1000))
    writeFileSync(join(o.out, 'scale-study.json'), `${JSON.stringify(results, null, 2)}\n`)
  } else {
    const modes = (o.modes as string).split(',').map((m) => m.trim() === 'on')
    const sizes = o.sizes as number[]
    const trials = o.trials as number[]
    sizes.forEach((n, i) => {
      const k = trials.length === 1 ? trials[0] : trials[i] ?? 1
      for (const b of modes) {
        const runs: Measurement[] = []
        for (let t = 0; t < k; t++) {
          const settle = o.settle === 'auto' ? 500 * n + 5000 : Number(o.settle)
          if (!Number.isFinite(settle) || settle < 0) throw new Error(`--settle must be a number of ms or auto, got ${o.settle}`)
          const m = measure(n, b, o.seed + n * 1000 + t, o.tick, settle)
          runs.push(m)
          process.stdout.write(
            `N=${n} broadcast=${b ? 'on' : 'off'} trial ${t + 1}/${k}: formed ${fmtMs(m.formedMs)} ms, ${m.msgsPerNodeSec.toFixed(1)} msgs/node/s (swim ${m.swimMsgsPerNodeSec.toFixed(1)}), join ${fmtMs(m.joinDisseminationMs)} ms, silent: suspect ${fmtMs(m.silent.firstSuspicionMs)} dead ${fmtMs(m.silent.firstDeadMs)} everywhere ${fmtMs(m.silent.allDeadMs)} ms, crash: suspect ${fmtMs(m.crash.firstSuspicionMs)} everywhere ${fmtMs(m.crash.allDeadMs)} ms (${(m.wallMs / 1000).toFixed(1)} s wall)\n`,
          )
        }
        results.push(average(runs))
        writeFileSync(join(o.out, 'scale-study.json'), `${JSON.stringify(results, null, 2)}\n`)
      }
    })
  }
  svgPlot(results, join(o.out, 'scale-study.svg'))
  writeFileSync(join(o.out, 'scale-study-table.md'), `${table(results)}\n`)
  process.stdout.write(`\n${table(results)}\n`)
}

if (process.argv[1]?.endsWith('scale-study.ts')) {
  main().catch((err) => {
    process.stderr.write(`scale-study: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
