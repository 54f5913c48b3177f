// Runtime benchmark: how fast the compiled CLI answers, how soon an agent listens after its process starts,
// how soon a new agent is seen by every member, and what an idle agent costs (CPU, RSS, bytes on the wire), for
// conclave (compiled dist/ through bin/conclave.js, and the one-file executable dist/conclave when it is built)
// and for Serf (Debian's `serf`) in the same run, all on 127.0.0.1. Writes docs/bench-runtime.md.
// A benchmark, not a test: nothing here asserts.
//
//   npm run bench -- runtime        (builds dist/ first)
//   npx tsx scripts/bench/runtime.ts [--sizes 5,10] [--idle-s 45] [--settle-s 20] [--runs 20] [--out docs/bench-runtime.md]
//                                    [--kinds conclave,conclave-exe,serf] [--parts cli,listen,join,idle,breakdown,soak]
//                                    [--parts soak --soak-agents 50 --soak-s 600]
//
// Wire bytes are counted by the kernel: an nftables table of this run (`inet conclave_bench_<pid>`, counters
// only, no verdicts, deleted at exit) counts every IPv4 packet leaving through the output hook whose TCP or
// UDP source or destination port is one of the cluster's listen ports. On loopback each packet passes the output
// hook once, so this is every byte of the cluster's traffic including IP and TCP/UDP headers, noise, yamux and
// gossipsub framing and pure ACKs; per agent = total / agents / seconds. Needs root and `nft` (Debian nftables).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { BIN, ROOT, freePorts } from '../../test/integration/harness.ts'
import { Cluster as NsCluster, staleRuns, teardown } from '../partition/lib/cluster.ts'
import { preflight } from '../partition/lib/preflight.ts'
import { startSerf } from '../partition/lib/proc.ts'
import { writeBenchDoc } from './doc.ts'
import { binLaunch } from '../lib/bin-launch.ts'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '5,10' },
    // 20 s: a just-formed cluster is still settling for the first 10-20 s (the last voter changes reach members
    // without a vote by state exchanges), which a 10 s settle let into the idle window.
    'idle-s': { type: 'string', default: '45' },
    'settle-s': { type: 'string', default: '20' },
    runs: { type: 'string', default: '20' },
    out: { type: 'string', default: 'docs/bench-runtime.md' },
    'no-serf': { type: 'boolean', default: false },
    /** Which agents to run (conclave, conclave-exe, serf); the default is all that are available. */
    kinds: { type: 'string' },
    /**
     * Which parts to measure: cli, listen, join, idle, breakdown (bytes by protocol and message type; an extra cluster
     * run with CONCLAVE_WIRE_STATS=1), idle-ns (idle in network namespaces, started as README.md tells a user: mDNS,
     * no flags; Serf the same way as in bench membership-faults), soak.
     */
    parts: { type: 'string', default: 'cli,listen,join,idle,idle-ns,breakdown,soak' },
    /** The conclave bin to run (default: this checkout's bin/conclave.js), e.g. another checkout's, for before/after. */
    bin: { type: 'string' },
    /** Label of the conclave rows (default: conclave). */
    label: { type: 'string', default: 'conclave' },
    /** The soak part: this many agents of each kind, idle for this long, counting every suspicion and death. */
    'soak-agents': { type: 'string', default: '50' },
    'soak-s': { type: 'string', default: '600' },
    /**
     * The soak's agents start this far apart. A conclave join costs about 2-3 CPU-seconds across the cluster
     * (docs/bench-runtime.md), so on two cores 50 agents started faster than about one every 4 s starve each other
     * while they form; 0 starts them all at once.
     */
    'soak-stagger-ms': { type: 'string', default: '5000' },
  },
})
const sizes = args.sizes.split(',').map(Number)
const idleS = Number(args['idle-s'])
const settleS = Number(args['settle-s'])
const runs = Number(args.runs)
const soakN = Number(args['soak-agents'])
const soakS = Number(args['soak-s'])
const soakStaggerMs = Number(args['soak-stagger-ms'])
if (!Number.isInteger(soakN) || soakN < 2 || soakN > 100 || !(soakS >= 10 && soakS <= 3600) || !(soakStaggerMs >= 0 && soakStaggerMs <= 60_000)) {
  console.error('bench runtime: --soak-agents takes 2..100, --soak-s 10..3600, --soak-stagger-ms 0..60000')
  process.exit(2)
}
if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 20) || !(idleS >= 5 && idleS <= 300) || !(settleS >= 0 && settleS <= 120) || !(runs >= 3 && runs <= 100)) {
  console.error('bench runtime: --sizes takes integers 2..20, --idle-s 5..300, --settle-s 0..120, --runs 3..100')
  process.exit(2)
}

const EXE = join(ROOT, 'dist/conclave')
const CONCLAVE_BIN = args.bin ? resolve(args.bin) : BIN
const shown = (k: string) => (k === 'conclave' ? args.label : k)
// What bin/conclave.js's shebang gives `npx conclave`: node's flags and environment (scripts/lib/bin-launch.ts).
const LAUNCH = binLaunch(CONCLAVE_BIN)
const NODE_FLAGS = LAUNCH.nodeArgs
const LAUNCH_SHOWN = [...Object.entries(LAUNCH.env).map(([k, v]) => `${k}=${v}`), 'node', ...NODE_FLAGS].join(' ')
const CLK_TCK = 100 // USER_HZ on Linux
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const log = (s: string) => console.log(`[runtime] ${s}`)

// ---------- processes (all ours, killed by pid) ----------

const started = new Set<ChildProcess>()
const tempDirs: string[] = []
function tempDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `conclave-bench-${tag}-`))
  tempDirs.push(d)
  return d
}
function start(cmd: string, argv: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: '', ...env } })
  child.stderr!.resume()
  started.add(child)
  child.once('exit', () => started.delete(child))
  return child
}
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGKILL')
  await gone
}

type Kind = 'conclave' | 'conclave-exe' | 'serf'
interface Agent {
  kind: Kind
  id: string
  port: number // the gossip/libp2p listen port (TCP, and UDP for Serf)
  api: number // conclave HTTP API / Serf RPC
  child: ChildProcess
  startedAt: number
}

function launch(kind: Kind, id: string, port: number, api: number, join_: number | null, env: Record<string, string> = {}): Agent {
  let child: ChildProcess
  if (kind === 'serf') {
    const argv = ['agent', '-node', id, '-bind', `127.0.0.1:${port}`, '-rpc-addr', `127.0.0.1:${api}`, '-log-level', 'warn']
    if (join_ !== null) argv.push('-join', `127.0.0.1:${join_}`)
    child = start('serf', argv)
  } else {
    const argv = ['agent', '--id', id, '--no-mdns', '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--api', `127.0.0.1:${api}`,
      '--data-dir', tempDir(id), '--log-level', 'warn']
    if (join_ !== null) argv.push('--bootstrap', `/ip4/127.0.0.1/tcp/${join_}`)
    child = kind === 'conclave' ? start(process.execPath, [...NODE_FLAGS, CONCLAVE_BIN, ...argv], { ...LAUNCH.env, ...env }) : start(EXE, argv, env)
  }
  return { kind, id, port, api, child, startedAt: performance.now() }
}

/** True once a TCP connect to 127.0.0.1:port succeeds. */
function tcpOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => { s.destroy(); res(true) })
    s.once('error', () => res(false))
  })
}

/** Ids the agent sees alive (conclave: GET /v1/members; Serf: `serf members -status alive`). */
async function aliveSeenBy(a: Agent): Promise<Set<string>> {
  try {
    if (a.kind === 'serf') {
      const r = spawnSync('serf', ['members', '-rpc-addr', `127.0.0.1:${a.api}`, '-status', 'alive'], { encoding: 'utf8', timeout: 5_000 })
      return new Set(r.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0]!))
    }
    const res = await fetch(`http://127.0.0.1:${a.api}/v1/members`, { signal: AbortSignal.timeout(2_000) })
    const members = (await res.json()) as { id: string; state: string }[]
    return new Set(members.filter((m) => m.state === 'alive').map((m) => m.id))
  } catch {
    return new Set()
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, everyMs = 10): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await sleep(everyMs)
  }
}

// ---------- /proc ----------

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12]) // utime + stime (fields 14, 15)
}
function rssKb(pid: number, field = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : Number.NaN
}

// ---------- nftables byte counters ----------

const TABLE = `conclave_bench_${process.pid}`
let nftReady = false
function nft(script: string): string {
  const r = spawnSync('nft', ['-f', '-'], { input: script, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`nft: ${r.stderr || r.error?.message}`)
  return r.stdout
}
/** (Re)creates the counters for these listen ports, at zero. */
function countPorts(ports: number[]): void {
  if (nftReady) nft(`delete table inet ${TABLE}`)
  const set = ports.join(', ')
  nft(`table inet ${TABLE} {
  chain out {
    type filter hook output priority 0; policy accept;
    meta l4proto tcp th sport { ${set} } counter comment "tcp-from"
    meta l4proto tcp th sport != { ${set} } th dport { ${set} } counter comment "tcp-to"
    meta l4proto udp th sport { ${set} } counter comment "udp-from"
    meta l4proto udp th sport != { ${set} } th dport { ${set} } counter comment "udp-to"
  }
}`)
  nftReady = true
}
function readCounters(): { tcp: number; udp: number; packets: number } {
  const r = spawnSync('nft', ['-j', 'list', 'table', 'inet', TABLE], { encoding: 'utf8' })
  const out = { tcp: 0, udp: 0, packets: 0 }
  for (const item of JSON.parse(r.stdout).nftables) {
    const rule = item.rule
    if (!rule) continue
    const counter = rule.expr.find((e: any) => e.counter)?.counter
    if (!counter) continue
    out[String(rule.comment).startsWith('tcp') ? 'tcp' : 'udp'] += counter.bytes
    out.packets += counter.packets
  }
  return out
}
function dropCounters(): void {
  if (nftReady) spawnSync('nft', ['delete', 'table', 'inet', TABLE])
  nftReady = false
}

async function cleanup(): Promise<void> {
  await Promise.all([...started].map(stop))
  dropCounters()
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true })
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().then(() => process.exit(130)))

// ---------- statistics ----------

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b)
const quantile = (xs: number[], q: number) => {
  const s = sorted(xs)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}
const median = (xs: number[]) => quantile(xs, 0.5)
const f0 = (x: number) => x.toFixed(0)
const f1 = (x: number) => x.toFixed(1)
const f2 = (x: number) => x.toFixed(2)
const ms = (xs: number[]) => `${f0(quantile(xs, 0))} / ${f0(median(xs))} / ${f0(quantile(xs, 0.9))}`

// ---------- measurements ----------

/** Wall time of a command run to completion, `n` times in a row (like hyperfine without warm-up exclusion). */
function timeCommand(cmd: string, argv: string[], n: number, env: Record<string, string> = {}): { times: number[]; ok: boolean } {
  const times: number[] = []
  let ok = true
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    const r = spawnSync(cmd, argv, { cwd: ROOT, stdio: 'ignore', timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '', ...env } })
    times.push(performance.now() - t0)
    if (r.status !== 0) ok = false
  }
  return { times, ok }
}

interface Cluster {
  kind: Kind
  agents: Agent[]
  /** Seconds from the first agent's start to every agent seeing every other alive. */
  formedS: number
}

/** n agents bootstrapping to the first; after the first, one every `staggerMs` (0: all at once). */
async function startCluster(kind: Kind, n: number, env: Record<string, string> = {}, staggerMs = 0): Promise<Cluster> {
  const ports = await freePorts(2 * n)
  const agents: Agent[] = []
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const a = launch(kind, `${kind === 'serf' ? 's' : 'node'}-${i + 1}`, ports[2 * i]!, ports[2 * i + 1]!, i === 0 ? null : ports[0]!, env)
    agents.push(a)
    if (i === 0) await until(`${kind} seed listening`, () => tcpOpen(a.port), 15_000)
    else if (staggerMs > 0 && i < n - 1) await sleep(staggerMs)
  }
  const ids = agents.map((a) => a.id)
  await until(`${kind}: all ${n} agents see all alive`, async () => {
    for (const a of agents) {
      const seen = await aliveSeenBy(a)
      if (!ids.every((id) => seen.has(id))) return false
    }
    return true
  }, 120_000 + n * 3_000, 200)
  return { kind, agents, formedS: (performance.now() - t0) / 1000 }
}

interface Idle {
  kind: Kind
  n: number
  cpuPct: number[] // per agent, % of one core
  rssMb: number[]
  /** The anonymous part of the RSS (heap, buffers, stacks): what each agent costs on its own; the rest is file pages (the Node binary) shared by all agents on the host. */
  anonMb: number[]
  tcpBps: number // per agent
  udpBps: number
}

async function measureIdle(c: Cluster): Promise<Idle> {
  log(`${c.kind} x${c.agents.length}: settling ${settleS} s, then idle for ${idleS} s`)
  await sleep(settleS * 1000)
  countPorts(c.agents.map((a) => a.port))
  const pids = c.agents.map((a) => a.child.pid!)
  const t0 = performance.now()
  const ticks0 = pids.map(cpuTicks)
  await sleep(idleS * 1000)
  const secs = (performance.now() - t0) / 1000
  return idleFigures(c, pids, ticks0, secs)
}

/** Per-agent CPU over a window that began at `ticks0`, RSS now, and the nftables counters' bytes per agent and second. */
function idleFigures(c: Cluster, pids: number[], ticks0: number[], secs: number): Idle {
  const ticks1 = pids.map(cpuTicks)
  const bytes = readCounters()
  const n = c.agents.length
  return {
    kind: c.kind,
    n,
    cpuPct: pids.map((_, i) => ((ticks1[i]! - ticks0[i]!) / CLK_TCK / secs) * 100),
    rssMb: pids.map((p) => rssKb(p) / 1024),
    anonMb: pids.map((p) => rssKb(p, 'RssAnon') / 1024),
    tcpBps: bytes.tcp / n / secs,
    udpBps: bytes.udp / n / secs,
  }
}

interface Soak {
  secs: number
  formedS: number
  /** conclave: suspicions and deaths while the cluster formed (the counters at the moment all saw all). */
  formSuspicions: number
  formDeaths: number
  /** Kind, size, CPU, RSS and bytes over the soak window. */
  idle: Idle
  /** conclave: counter deltas summed over all agents (suspicions raised or learned, deaths seen, master changes). */
  suspicions: number
  deaths: number
  masterChanges: number
  /** Views sampled every 30 s, and how many of them missed a member alive (Serf's measure, and conclave's too). */
  views: number
  shortViews: number
  rssMaxMb: number
}

/** A long idle window for a big cluster: CPU, RSS (sampled, max), bytes, and every sign of a false verdict. */
async function measureSoak(c: Cluster): Promise<Soak> {
  log(`soak ${c.kind} x${c.agents.length}: formed in ${c.formedS.toFixed(0)} s; settling ${settleS} s, then ${soakS} s`)
  const conclave = c.kind !== 'serf'
  const formed = conclave ? sumScrapes(await Promise.all(c.agents.map(scrape))) : new Map<string, number>()
  await sleep(settleS * 1000)
  countPorts(c.agents.map((a) => a.port))
  const pids = c.agents.map((a) => a.child.pid!)
  const ids = c.agents.map((a) => a.id)
  const before = conclave ? sumScrapes(await Promise.all(c.agents.map(scrape))) : new Map<string, number>()
  const t0 = performance.now()
  const ticks0 = pids.map(cpuTicks)
  let views = 0
  let shortViews = 0
  let rssMax = 0
  while (performance.now() - t0 < soakS * 1000) {
    await sleep(Math.min(30_000, soakS * 1000 - (performance.now() - t0)))
    for (const p of pids) rssMax = Math.max(rssMax, rssKb(p) / 1024)
    for (const a of c.agents) {
      const seen = await aliveSeenBy(a)
      views++
      if (!ids.every((id) => seen.has(id))) shortViews++
    }
  }
  const secs = (performance.now() - t0) / 1000
  const idle = idleFigures(c, pids, ticks0, secs)
  const after = conclave ? sumScrapes(await Promise.all(c.agents.map(scrape))) : new Map<string, number>()
  const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0)
  return {
    secs,
    formedS: c.formedS,
    formSuspicions: formed.get('conclave_suspicions_total') ?? 0,
    formDeaths: formed.get('conclave_member_transitions_total{state="dead"}') ?? 0,
    idle,
    suspicions: delta('conclave_suspicions_total'),
    deaths: delta('conclave_member_transitions_total{state="dead"}'),
    masterChanges: delta('conclave_master_changes_total'),
    views,
    shortViews,
    rssMaxMb: rssMax,
  }
}

/** One agent's /metrics as (series with labels) -> value. */
async function scrape(a: Agent): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  const res = await fetch(`http://127.0.0.1:${a.api}/metrics`, { signal: AbortSignal.timeout(5_000) })
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith('conclave_')) continue
    const sp = line.lastIndexOf(' ')
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)))
  }
  return out
}
const sumScrapes = (ms_: Map<string, number>[]) => {
  const out = new Map<string, number>()
  for (const m of ms_) for (const [k, v] of m) out.set(k, (out.get(k) ?? 0) + v)
  return out
}
const labelsOf = (series: string) => Object.fromEntries([...series.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]))

interface Breakdown {
  n: number
  secs: number
  wire: { tcp: number; packets: number } // per agent and second
  delta: Map<string, number> // per agent and second, summed over the cluster / n
  end: Map<string, number> // gauges at the end, summed over the cluster / n
}

/** The same idle window with CONCLAVE_WIRE_STATS=1: bytes by libp2p protocol and by message type (src/net/wire-stats.ts). */
async function measureBreakdown(c: Cluster): Promise<Breakdown> {
  log(`breakdown x${c.agents.length}: settling ${settleS} s, then ${idleS} s with wire stats`)
  await sleep(settleS * 1000)
  countPorts(c.agents.map((a) => a.port))
  const before = sumScrapes(await Promise.all(c.agents.map(scrape)))
  const t0 = performance.now()
  await sleep(idleS * 1000)
  const after = sumScrapes(await Promise.all(c.agents.map(scrape)))
  const secs = (performance.now() - t0) / 1000
  const bytes = readCounters()
  const n = c.agents.length
  const delta = new Map<string, number>()
  for (const [k, v] of after) delta.set(k, (v - (before.get(k) ?? 0)) / n / secs)
  const end = new Map([...after].map(([k, v]) => [k, v / n]))
  return { n, secs, wire: { tcp: bytes.tcp / n / secs, packets: bytes.packets / n / secs }, delta, end }
}

/**
 * Follows GET /v1/events of one conclave agent and notes when it first saw `id` alive, by the agent's own
 * wall-clock stamp (same host, same clock). Nothing is polled: polling ten agents' member lists every 10 ms (as
 * this benchmark did before) is ~600 HTTP requests a second, which slows the very agents being timed.
 */
class AliveTap {
  readonly seen = new Map<string, number>()
  private readonly ctl = new AbortController()
  readonly ready: Promise<void>
  constructor(a: Agent) {
    let opened!: () => void
    this.ready = new Promise((r) => (opened = r))
    void (async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${a.api}/v1/events`, { signal: this.ctl.signal })
        opened()
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
        let buf = ''
        for (;;) {
          const { value, done } = await reader.read()
          if (done) return
          buf += value
          let i: number
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const data = buf.slice(0, i).split('\n').find((l) => l.startsWith('data: '))
            buf = buf.slice(i + 2)
            if (!data) continue
            const e = JSON.parse(data.slice(6))
            const m = e.member
            if ((e.type === 'member-joined' || e.type === 'member-state') && m?.state === 'alive' && !this.seen.has(m.id)) this.seen.set(m.id, Date.parse(e.time))
          }
        }
      } catch {
        opened()
      }
    })()
  }
  close(): void {
    this.ctl.abort()
  }
}

/** A new agent joins the running cluster: process start to listening, and to alive in every member's view. */
async function measureJoin(c: Cluster): Promise<{ listenMs: number; seenByAllMs: number }> {
  const [port, api] = await freePorts(2)
  const id = `${c.kind === 'serf' ? 's' : 'node'}-join-${port}`
  const taps = c.kind === 'serf' ? [] : c.agents.map((m) => new AliveTap(m))
  await Promise.all(taps.map((t) => t.ready))
  const wallStart = Date.now()
  const a = launch(c.kind, id, port, api, c.agents[0]!.port)
  let listenMs = Number.NaN
  const listening = until('joiner listening', async () => {
    if (await tcpOpen(port)) { listenMs = performance.now() - a.startedAt; return true }
    return false
  }, 15_000, 5)
  let seenMs = Number.NaN
  try {
    if (c.kind === 'serf') {
      // Serf's members command is a process per call: polling all members takes ~10 ms each, which bounds the
      // resolution of Serf's figure.
      const everyone = [...c.agents]
      await until(`${id} seen alive by all`, async () => {
        const views = await Promise.all(everyone.map(aliveSeenBy))
        if (views.every((v) => v.has(id))) { seenMs = performance.now() - a.startedAt; return true }
        return false
      }, 30_000, 10)
    } else {
      await until(`${id} seen alive by all`, async () => taps.every((t) => t.seen.has(id)), 30_000, 50)
      seenMs = Math.max(...taps.map((t) => t.seen.get(id)!)) - wallStart
    }
  } finally {
    for (const t of taps) t.close()
  }
  await listening
  await stop(a.child)
  return { listenMs, seenByAllMs: seenMs }
}

/** A lone agent's process start to its listen port (and for conclave its API) accepting connections. */
async function measureListen(kind: Kind, reps: number): Promise<{ listen: number[]; api: number[] }> {
  const listen: number[] = []
  const api: number[] = []
  for (let i = 0; i < reps; i++) {
    const [p, q] = await freePorts(2)
    const a = launch(kind, `${kind === 'serf' ? 's' : 'node'}-lone-${p}`, p!, q!, null)
    let lt = Number.NaN
    let at = Number.NaN
    await until('listening', async () => {
      if (Number.isNaN(lt) && (await tcpOpen(p!))) lt = performance.now() - a.startedAt
      if (Number.isNaN(at) && (await tcpOpen(q!))) at = performance.now() - a.startedAt
      return !Number.isNaN(lt) && !Number.isNaN(at)
    }, 15_000, 2)
    listen.push(lt)
    api.push(at)
    await stop(a.child)
  }
  return { listen, api }
}

// ---------- idle in network namespaces ----------

/** Idle figures of agents each in its own namespace: what the namespace sent, by kind of packet (nftables in it). */
interface IdleNs extends Idle {
  mdnsBps: number
  otherBps: number
  /** Bytes per agent and second on the namespace's interface (frames, Ethernet headers included), for comparison. */
  linkBps: number
}

const NS_TABLE = 'conclave_bench_idle'

/** Counters only, no verdicts: every IPv4 packet leaving the namespace, by protocol (mDNS is UDP port 5353). */
function countNs(ns: string): void {
  const script = `table inet ${NS_TABLE} {\n chain out {\n type filter hook output priority 0; policy accept;\n` +
    '  meta l4proto tcp counter\n  udp dport 5353 counter\n  meta l4proto udp udp dport != 5353 counter\n  meta l4proto != { tcp, udp } counter\n }\n}\n'
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`nft in ${ns}: ${r.stderr.trim()}`)
}

function readNs(ns: string): { tcp: number; mdns: number; udp: number; other: number } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'inet', NS_TABLE], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`nft list in ${ns}: ${r.stderr.trim()}`)
  const bytes = (JSON.parse(r.stdout).nftables as any[]).filter((o) => o.rule).map((o) => o.rule.expr.find((e: any) => e.counter)?.counter.bytes ?? 0)
  return { tcp: bytes[0] ?? 0, mdns: bytes[1] ?? 0, udp: bytes[2] ?? 0, other: bytes[3] ?? 0 }
}

const linkRx = (veth: string) => Number(readFileSync(`/sys/class/net/${veth}/statistics/rx_bytes`, 'utf8'))

async function startNsCluster(kind: 'conclave' | 'serf', n: number): Promise<NsCluster> {
  if (kind === 'conclave') return NsCluster.up({ nodes: n, mode: 'harness', label: `bench-rt-ns${n}`, waitMs: 120_000 + n * 3_000 })
  const c = await NsCluster.up({ nodes: n, mode: 'harness', label: `bench-rt-serf${n}`, netOnly: true })
  const nodes = c.s.nodes
  nodes.forEach((node, i) => startSerf(c.s, node, i > 0 ? nodes[0]! : null, 'warn'))
  await until(`serf: all ${n} agents in namespaces see all alive`, async () => nodes.every((node) => {
    const r = spawnSync('ip', ['netns', 'exec', node.ns, 'serf', 'members', '-rpc-addr', '127.0.0.1:7373', '-status', 'alive'], { encoding: 'utf8' })
    return r.status === 0 && r.stdout.trim().split('\n').length === n
  }), 60_000, 500)
  return c
}

async function measureIdleNs(kind: 'conclave' | 'serf', n: number): Promise<IdleNs> {
  const c = await startNsCluster(kind, n)
  try {
    log(`${kind} x${n} in namespaces: settling ${settleS} s, then idle for ${idleS} s`)
    await sleep(settleS * 1000)
    const nodes = c.s.nodes
    for (const node of nodes) countNs(node.ns)
    const pids = nodes.map((node) => node.pid!)
    const link0 = nodes.map((node) => linkRx(node.vethBr))
    const t0 = performance.now()
    const ticks0 = pids.map(cpuTicks)
    await sleep(idleS * 1000)
    const secs = (performance.now() - t0) / 1000
    const ticks1 = pids.map(cpuTicks)
    const sum = { tcp: 0, mdns: 0, udp: 0, other: 0 }
    for (const node of nodes) for (const [k, v] of Object.entries(readNs(node.ns))) sum[k as keyof typeof sum] += v
    const link = nodes.reduce((t, node, i) => t + linkRx(node.vethBr) - link0[i]!, 0)
    const per = (b: number) => b / n / secs
    return {
      kind, n,
      cpuPct: pids.map((_, i) => ((ticks1[i]! - ticks0[i]!) / CLK_TCK / secs) * 100),
      rssMb: pids.map((p) => rssKb(p) / 1024),
      anonMb: pids.map((p) => rssKb(p, 'RssAnon') / 1024),
      tcpBps: per(sum.tcp), udpBps: per(sum.udp), mdnsBps: per(sum.mdns), otherBps: per(sum.other), linkBps: per(link),
    }
  } finally {
    teardown(c.s)
  }
}

// ---------- run ----------

const haveSerf = !args['no-serf'] && spawnSync('serf', ['version']).status === 0
const haveExe = existsSync(EXE)
const available: Kind[] = ['conclave', ...(haveExe ? ['conclave-exe' as const] : []), ...(haveSerf ? ['serf' as const] : [])]
const kinds = args.kinds ? available.filter((k) => args.kinds!.split(',').includes(k)) : available
const parts = new Set(args.parts.split(','))
const runExe = kinds.includes('conclave-exe')
const runSerf = kinds.includes('serf')
if (!existsSync(join(ROOT, 'dist/cli/main.js'))) {
  console.error('bench runtime: dist/ is missing; run `npm run build` (npm run bench does)')
  process.exit(2)
}
const loadBefore = loadavg()
const startedAt = new Date()
const cli: { label: string; times: number[]; ok: boolean }[] = []
const listens: { kind: Kind; listen: number[]; api: number[] }[] = []
const idles: Idle[] = []
const idleNs: IdleNs[] = []
const joins: { kind: Kind; n: number; listenMs: number; seenByAllMs: number }[] = []
const breakdowns: Breakdown[] = []
const soaks: Soak[] = []
const failures: string[] = []

try {
  if (parts.has('cli')) {
  log(`start-up: ${runs} runs per command`)
  const binShown = args.bin ? `node ${args.bin}` : 'node bin/conclave.js'
  cli.push({ label: `\`${binShown} --version\``, ...timeCommand(process.execPath, [...NODE_FLAGS, CONCLAVE_BIN, '--version'], runs, LAUNCH.env) })
  if (runExe) cli.push({ label: '`dist/conclave --version` (one-file executable)', ...timeCommand(EXE, ['--version'], runs) })
  if (!args.bin) cli.push({ label: '`npx conclave --version` (npx resolves the bin first)', ...timeCommand('npx', ['conclave', '--version'], Math.min(runs, 5)) })
  {
    const c = await startCluster('conclave', 1)
    const api = `127.0.0.1:${c.agents[0]!.api}`
    cli.push({ label: `\`${binShown} status\` (against a running agent)`, ...timeCommand(process.execPath, [...NODE_FLAGS, CONCLAVE_BIN, 'status', '--api', api], runs, LAUNCH.env) })
    if (runExe) cli.push({ label: '`dist/conclave status` (against a running agent)', ...timeCommand(EXE, ['status', '--api', api], runs) })
    if (runSerf) {
      const s = await startCluster('serf', 1)
      cli.push({ label: '`serf members` (against a running Serf agent, for comparison)', ...timeCommand('serf', ['members', '-rpc-addr', `127.0.0.1:${s.agents[0]!.api}`], runs) })
      await Promise.all(s.agents.map((a) => stop(a.child)))
    }
    await Promise.all(c.agents.map((a) => stop(a.child)))
  }
  }
  if (parts.has('listen')) {
    log('process start to listening: 10 lone agents per kind')
    for (const kind of kinds) listens.push({ kind, ...(await measureListen(kind, 10)) })
  }

  for (const n of sizes) {
    if (!parts.has('idle') && !parts.has('join') && !parts.has('breakdown')) break
    for (const kind of kinds) {
      log(`${kind}: starting ${n} agents`)
      let c: Cluster | null = null
      try {
        c = await startCluster(kind, n)
        if (parts.has('idle')) idles.push(await measureIdle(c))
        dropCounters()
        if (parts.has('join')) for (let r = 0; r < 3; r++) joins.push({ kind, n, ...(await measureJoin(c)) })
      } catch (e) {
        // A cluster that does not form (e.g. on an overloaded machine) is reported, and the run goes on.
        failures.push(`${shown(kind)} × ${n}: ${(e as Error).message}`)
        log(`FAILED ${failures.at(-1)}`)
      } finally {
        if (c) await Promise.all(c.agents.map((a) => stop(a.child)))
        await Promise.all([...started].map(stop))
      }
    }
    if (parts.has('breakdown') && kinds.includes('conclave')) {
      let c: Cluster | null = null
      try {
        c = await startCluster('conclave', n, { CONCLAVE_WIRE_STATS: '1' })
        breakdowns.push(await measureBreakdown(c))
        dropCounters()
      } catch (e) {
        failures.push(`breakdown × ${n}: ${(e as Error).message}`)
        log(`FAILED ${failures.at(-1)}`)
      } finally {
        if (c) await Promise.all(c.agents.map((a) => stop(a.child)))
        await Promise.all([...started].map(stop))
      }
    }
  }
  if (parts.has('idle-ns')) {
    const pf = preflight()
    if (!pf.ok) failures.push(`idle in namespaces: ${pf.why}`)
    else {
      for (const r of staleRuns()) teardown(r)
      for (const n of sizes) {
        for (const kind of (['conclave', 'serf'] as const).filter((k) => kinds.includes(k))) {
          log(`${kind}: starting ${n} agents in network namespaces`)
          try {
            idleNs.push(await measureIdleNs(kind, n))
          } catch (e) {
            failures.push(`${shown(kind)} × ${n} in namespaces: ${(e as Error).message}`)
            log(`FAILED ${failures.at(-1)}`)
          }
        }
      }
    }
  }
  if (parts.has('soak')) {
    for (const kind of kinds.filter((k) => k !== 'conclave-exe')) {
      log(`soak: starting ${soakN} ${kind} agents`)
      let c: Cluster | null = null
      try {
        c = await startCluster(kind, soakN, {}, soakStaggerMs)
        soaks.push(await measureSoak(c))
        dropCounters()
      } catch (e) {
        failures.push(`soak ${shown(kind)} × ${soakN}: ${(e as Error).message}`)
        log(`FAILED ${failures.at(-1)}`)
      } finally {
        if (c) await Promise.all(c.agents.map((a) => stop(a.child)))
        await Promise.all([...started].map(stop))
      }
    }
  }
} finally {
  await cleanup()
}
const loadAfter = loadavg()

// ---------- report ----------

const L: string[] = []
L.push('# Runtime benchmark: start-up, listening, idle cost (conclave vs Serf)', '')
L.push(`Run ${startedAt.toISOString()} on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, all processes on 127.0.0.1. ` +
  `Load average (1 min) ${f2(loadBefore[0]!)} before, ${f2(loadAfter[0]!)} after: the machine is shared with other work, so CPU and timing figures carry that noise.`)
L.push(`Reproduce: \`npm run bench -- runtime\` (or \`npx tsx scripts/bench/runtime.ts --sizes ${sizes.join(',')} --idle-s ${idleS} --settle-s ${settleS} --runs ${runs} --parts ${[...parts].join(',')}${parts.has('soak') ? ` --soak-agents ${soakN} --soak-s ${soakS} --soak-stagger-ms ${soakStaggerMs}` : ''}\`). ` +
  (args.bin ? `"${args.label}" agents run \`${LAUNCH_SHOWN} ${args.bin} agent …\`` : `conclave agents run the compiled \`dist/\` (\`${LAUNCH_SHOWN} bin/conclave.js agent …\`, as its shebang starts it; no TypeScript loader)`) +
  (runExe ? ' and the one-file executable `dist/conclave` (`npm run build:exe`)' : '') + '; ' +
  (runSerf ? `Serf is \`${spawnSync('serf', ['version'], { encoding: 'utf8' }).stdout.split('\n')[0]}\` from Debian (\`serf agent -bind 127.0.0.1:<port> -rpc-addr 127.0.0.1:<port> -join …\`).` : 'Serf was not measured (not installed, or --no-serf).'), '')

L.push('## Start-up of the CLI', '', `Wall time from spawn to exit, ${runs} runs in a row (npx: 5); min / median / p90 in ms.`, '')
L.push('| command | min / median / p90 ms | exit 0 |', '|---|---|---|')
for (const c of cli) L.push(`| ${c.label} | ${ms(c.times)} | ${c.ok ? 'yes' : 'NO'} |`)
L.push('')

L.push('## Process start to listening', '', 'A lone agent (no peers), 10 starts: time from spawn() to the first TCP connect that succeeds on its listen port (libp2p / Serf gossip) and its API (conclave HTTP API / Serf RPC); min / median / p90 in ms.', '')
L.push('| agent | listen port | API |', '|---|---|---|')
for (const l of listens) L.push(`| ${shown(l.kind)} | ${ms(l.listen)} | ${ms(l.api)} |`)
L.push('')

L.push('## A new agent joining a running cluster', '', 'Process start of the joiner (bootstrapping to the first agent) to listening, and to "alive" in every member\'s view. conclave: the latest of the members\' own event stamps (`GET /v1/events`, member-joined or member-state alive; same host, same clock), so the agents are not polled while they are timed; Serf: polled every 10 ms with one `serf members` process per member, which adds up to ~10 ms per member to its figure. 3 joins per row; each figure is min / median / max in ms.', '')
L.push('| agent | cluster | listening | seen alive by all |', '|---|---|---|---|')
for (const n of sizes) {
  for (const kind of kinds) {
    const js = joins.filter((j) => j.kind === kind && j.n === n)
    if (js.length === 0) continue
    const r = (xs: number[]) => `${f0(Math.min(...xs))} / ${f0(median(xs))} / ${f0(Math.max(...xs))}`
    L.push(`| ${shown(kind)} | ${n} | ${r(js.map((j) => j.listenMs))} | ${r(js.map((j) => j.seenByAllMs))} |`)
  }
}
L.push('')

L.push('## Idle cost per agent', '', `After all agents see each other and ${settleS} s more, ${idleS} s of idling. CPU from /proc/<pid>/stat (utime+stime), as % of one core; RSS from /proc/<pid>/status at the end; ` +
  '"anonymous" is RssAnon (heap, buffers, stacks: each agent\'s own), the rest of the RSS is file pages, mostly the Node binary, which agents on one host share; ' +
  'wire bytes from the nftables counters described in the script header (every IP packet of the cluster, headers included, per agent and second).', '')
L.push('| agent | agents | CPU % median (max) | RSS MB median (max) | of which anonymous MB, median | TCP B/s | UDP B/s | total B/s |', '|---|---|---|---|---|---|---|---|')
for (const i of idles) {
  L.push(`| ${shown(i.kind)} | ${i.n} | ${f2(median(i.cpuPct))} (${f2(Math.max(...i.cpuPct))}) | ${f1(median(i.rssMb))} (${f1(Math.max(...i.rssMb))}) | ${f1(median(i.anonMb))} | ${f0(i.tcpBps)} | ${f0(i.udpBps)} | ${f0(i.tcpBps + i.udpBps)} |`)
}
L.push('')
if (runSerf) {
  L.push('Ratios conclave / Serf (same cluster size, same run):', '')
  L.push('| agents | CPU | RSS | wire bytes |', '|---|---|---|---|')
  for (const n of sizes) {
    const c = idles.find((i) => i.kind === 'conclave' && i.n === n)
    const s = idles.find((i) => i.kind === 'serf' && i.n === n)
    if (!c || !s) continue
    L.push(`| ${n} | ${f1(median(c.cpuPct) / median(s.cpuPct))}× | ${f1(median(c.rssMb) / median(s.rssMb))}× | ${f1((c.tcpBps + c.udpBps) / (s.tcpBps + s.udpBps))}× |`)
  }
  L.push('')
}

if (idleNs.length > 0) {
  L.push('## Idle cost per agent in network namespaces, as a user runs it', '', `Each agent in its own network namespace on a private bridge (scripts/partition/lib), started as README.md tells a user: conclave with mDNS discovery and no flags (the harness's agent config adds one probe task), Serf with \`-retry-join\` to the first agent (Serf finds no peer on its own). ${settleS} s to settle after all see all, then ${idleS} s. ` +
    'Bytes: an nftables table in each namespace counts every IPv4 packet it sends, by kind (IP headers included); "link" is the same from the interface counters (Ethernet frames, ARP and IPv6 included). mDNS is multicast: one packet sent reaches every namespace on the bridge.', '')
  L.push('| agent | agents | CPU % median (max) | RSS MB median | anonymous MB median | TCP B/s | mDNS B/s | other UDP B/s | total B/s | link B/s |', '|---|---|---|---|---|---|---|---|---|---|')
  for (const i of idleNs) {
    const total = i.tcpBps + i.mdnsBps + i.udpBps + i.otherBps
    L.push(`| ${shown(i.kind)} | ${i.n} | ${f2(median(i.cpuPct))} (${f2(Math.max(...i.cpuPct))}) | ${f1(median(i.rssMb))} | ${f1(median(i.anonMb))} | ${f0(i.tcpBps)} | ${f0(i.mdnsBps)} | ${f0(i.udpBps)} | ${f0(total)} | ${f0(i.linkBps)} |`)
  }
  L.push('')
}

if (breakdowns.length > 0) {
  // Per frame written: a yamux header (12 B) and noise's length prefix and tag (2 + 16 B).
  const FRAME = 30
  L.push('## Where the idle bytes go', '', `A separate cluster of ${args.label} agents with \`CONCLAVE_WIRE_STATS=1\` (src/net/wire-stats.ts counts every libp2p stream's payload and chunks by protocol, and each connection's socket bytes), same settle and idle window; figures are bytes sent per agent and second (the cluster's total / agents / seconds). ` +
    `"frames" are the chunks a stream wrote, each one yamux frame in one noise frame (+${FRAME} B); "socket" is everything the connections wrote (noise, yamux, multistream-select, stream opens and closes, window updates); the wire adds IP/TCP headers and pure ACKs (nftables).`, '')
  for (const b of breakdowns) {
    const get = (name: string, want: Record<string, string>) => {
      let t = 0
      for (const [k, v] of b.delta) {
        if (!k.startsWith(`${name}{`) && k !== name) continue
        const l = labelsOf(k)
        if (Object.entries(want).every(([kk, vv]) => l[kk] === vv)) t += v
      }
      return t
    }
    const protocols = new Set<string>()
    for (const k of b.delta.keys()) if (k.startsWith('conclave_wire_stream_bytes_total{')) protocols.add(labelsOf(k).protocol!)
    const socketOut = get('conclave_wire_connection_bytes_total', { direction: 'out' })
    const conns = b.end.get('conclave_connections{kind="connections"}') ?? Number.NaN
    L.push(`### ${b.n} agents (${f0(b.secs)} s, ${f1(conns)} libp2p connections per agent at the end)`, '')
    L.push('| libp2p protocol | streams opened /s | payload B/s | frames /s | payload + framing B/s |', '|---|---|---|---|---|')
    let attributed = 0
    const rows = [...protocols].map((p) => {
      const payload = get('conclave_wire_stream_bytes_total', { protocol: p, direction: 'out' })
      const frames = get('conclave_wire_stream_chunks_total', { protocol: p, direction: 'out' })
      const opened = get('conclave_wire_streams_total', { protocol: p, direction: 'outbound' })
      return { p, payload, frames, opened, framed: payload + frames * FRAME }
    }).sort((x, y) => y.framed - x.framed)
    for (const r of rows) {
      attributed += r.framed
      L.push(`| \`${r.p}\` | ${f2(r.opened)} | ${f0(r.payload)} | ${f1(r.frames)} | ${f0(r.framed)} |`)
    }
    L.push(`| stream opens and closes (multistream-select, yamux SYN/FIN), window updates, pings | | | | ${f0(socketOut - attributed)} |`)
    L.push(`| **socket bytes written** (${f1(get('conclave_wire_connection_chunks_total', { direction: 'out' }))} writes/s) | | | | **${f0(socketOut)}** |`)
    L.push(`| IP/TCP headers and pure ACKs (${f1(b.wire.packets)} packets/s) | | | | ${f0(b.wire.tcp - socketOut)} |`)
    L.push(`| **on the wire** (nftables) | | | | **${f0(b.wire.tcp)}** |`, '')
    const types = new Set<string>()
    for (const k of b.delta.keys()) if (k.startsWith('conclave_messages_sent_total{')) types.add(`${labelsOf(k).type} ${labelsOf(k).channel}`)
    L.push('Protocol messages the core sent (encoded size, before any framing; a broadcast is counted once, at its publisher):', '')
    L.push('| message | channel | messages /s | encoded B/s | B per message |', '|---|---|---|---|---|')
    const trows = [...types].map((t) => {
      const [type, channel] = t.split(' ') as [string, string]
      const m = get('conclave_messages_sent_total', { type, channel })
      const by = get('conclave_bytes_sent_total', { type, channel })
      return { type, channel, m, by }
    }).filter((r) => r.m > 0).sort((x, y) => y.by - x.by)
    for (const r of trows) L.push(`| ${r.type} | ${r.channel} | ${f2(r.m)} | ${f0(r.by)} | ${f0(r.by / r.m)} |`)
    L.push('')
  }
}

if (soaks.length > 0) {
  L.push(`## ${soakN} agents left alone for ${soakS} s`, '', `Each kind in its own run: ${soakN} agents on 127.0.0.1 (a two-core machine, so CPU starvation is what could make an agent miss its probes), ${soakStaggerMs > 0 ? `started ${soakStaggerMs / 1000} s apart (--soak-stagger-ms; a conclave join costs about 2-3 CPU-seconds, so faster starts starve a forming cluster on two cores: see the notes below), ` : 'all started at once, '}${settleS} s to settle after every agent sees every other alive, then ${soakS} s with no fault at all. ` +
    'Every suspicion and death in that window is false. conclave: the agents\' own counters (conclave_suspicions_total, raised or learned, so one suspicion is counted by each agent that hears of it; conclave_member_transitions_total{state="dead"}; conclave_master_changes_total), summed over the agents; both kinds: every agent\'s alive list read every 30 s. ' +
    'CPU and wire bytes per agent over the window; RSS at the end (and the largest sample). "While forming": the same counters from the first start to the moment all saw all (the formation is not fault-free: agents join while others are starting).', '')
  L.push('| agent | agents | formed in s | while forming: suspicions / deaths | window s | suspicions | deaths seen | master changes | alive lists short of a member | CPU % median (max) | RSS MB median (largest sample) | anonymous MB median | wire B/s per agent |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const k of soaks) {
    const i = k.idle
    const na = i.kind === 'serf' ? 'n/a' : null
    L.push(`| ${shown(i.kind)} | ${i.n} | ${f0(k.formedS)} | ${na ?? `${f0(k.formSuspicions)} / ${f0(k.formDeaths)}`} | ${f0(k.secs)} | ${na ?? f0(k.suspicions)} | ${na ?? f0(k.deaths)} | ${na ?? f0(k.masterChanges)} | ${k.shortViews} of ${k.views} | ${f2(median(i.cpuPct))} (${f2(Math.max(...i.cpuPct))}) | ${f1(median(i.rssMb))} (${f1(k.rssMaxMb)}) | ${f1(median(i.anonMb))} | ${f0(i.tcpBps + i.udpBps)} |`)
  }
  const c = soaks.find((k) => k.idle.kind === 'conclave')?.idle
  const sf = soaks.find((k) => k.idle.kind === 'serf')?.idle
  if (c && sf) {
    L.push('', `Ratios conclave / Serf at ${soakN} agents (same run): CPU ${f1(median(c.cpuPct) / median(sf.cpuPct))}×, RSS ${f1(median(c.rssMb) / median(sf.rssMb))}×, wire bytes ${f1((c.tcpBps + c.udpBps) / (sf.tcpBps + sf.udpBps))}×.`)
  }
  L.push('')
}

if (failures.length > 0) L.push('## Not measured', '', ...failures.map((f) => `- ${f}`), '')

const outFile = resolve(ROOT, args.out)
writeBenchDoc(outFile, L)
log(`wrote ${outFile}`)
console.log(L.join('\n'))
