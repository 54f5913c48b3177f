// Membership benchmark with real agent processes on 127.0.0.1 (bootstrap, no mDNS).
// Measures join convergence, failure detection (SIGKILL, SIGSTOP), master failover (SIGKILL, SIGSTOP) and idle cost,
// for several cluster sizes, and writes docs/bench-membership.md. A benchmark, not a test: nothing here asserts.
//
//   npx tsx scripts/bench/membership.ts [--sizes 5,10] [--reps 3] [--idle-s 20] [--out docs/bench-membership.md]
import { readFileSync, writeFileSync } from 'node:fs'
import { loadavg, cpus } from 'node:os'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { StatusView } from '../../src/agent/types.ts'
import { AgentProc, Cluster, ROOT, waitFor } from '../../test/integration/harness.ts'
import { binLaunch } from '../lib/bin-launch.ts'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '5,10' },
    reps: { type: 'string', default: '3' },
    'idle-s': { type: 'string', default: '20' },
    out: { type: 'string', default: 'docs/bench-membership.md' },
    /** Flags for node running each agent; the default is what bin/conclave.js's shebang gives `npx conclave`. */
    'node-flags': { type: 'string', default: binLaunch().nodeArgs.join(' ') },
  },
})
const sizes = args.sizes.split(',').map(Number)
const reps = Number(args.reps)
const idleS = Number(args['idle-s'])
const nodeFlags = args['node-flags'].split(' ').filter(Boolean)
if (sizes.some((n) => !Number.isInteger(n) || n < 3 || n > 20) || !(reps >= 1 && reps <= 20) || !(idleS >= 5 && idleS <= 300)) {
  console.error('bench: --sizes takes integers 3..20, --reps 1..20, --idle-s 5..300')
  process.exit(2)
}

interface Tapped {
  t: number
  e: any
}

/** Follows GET /v1/events of one agent; event times are the agent's own wall-clock stamps (same host, same clock). */
class Tap {
  readonly events: Tapped[] = []
  private readonly ctl = new AbortController()
  constructor(readonly agent: AgentProc) {
    void this.run()
  }
  private async run(): Promise<void> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.agent.spec.apiPort}/v1/events`, { signal: this.ctl.signal })
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
      let buf = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        buf += value
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const data = chunk.split('\n').find((l) => l.startsWith('data: '))
          if (data) {
            const e = JSON.parse(data.slice(6))
            this.events.push({ t: Date.parse(e.time), e })
          }
        }
      }
    } catch {
      // agent gone or tap closed
    }
  }
  close(): void {
    this.ctl.abort()
  }
  first(after: number, pred: (e: any) => boolean): number | null {
    return this.events.find((x) => x.t >= after && pred(x.e))?.t ?? null
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const stateIn = (s: StatusView, id: string) => s.members.find((m) => m.id === id)?.state

class Bench {
  cluster = new Cluster(nodeFlags)
  agents = new Map<string, AgentProc>()
  taps = new Map<string, Tap>()
  seed = ''

  constructor(readonly n: number) {}

  ids(): string[] {
    return [...this.agents.keys()]
  }

  async start(): Promise<void> {
    for (let i = 1; i <= this.n; i++) {
      const a = await this.cluster.spawn(`node-${i}`, i === 1 ? [] : [this.seed], ['--log-level', 'warn'])
      if (i === 1) this.seed = `/ip4/127.0.0.1/tcp/${a.spec.p2pPort}`
      this.agents.set(a.id, a)
    }
    await this.converged('cold start', 90_000)
  }

  /** Follow every agent's event stream (after the idle measurement: the stream itself costs bytes and CPU). */
  tapAll(): void {
    for (const a of this.agents.values()) this.taps.set(a.id, new Tap(a))
  }

  async statuses(ids = this.ids()): Promise<(StatusView | null)[]> {
    return Promise.all(ids.map((id) => this.agents.get(id)!.status()))
  }

  /** Every running agent sees every running agent alive, all voting, and the same master node-1. */
  async converged(what: string, timeoutMs = 60_000): Promise<void> {
    const ids = this.ids()
    let last = ''
    try {
      await waitFor(
        `${what}: ${ids.length} agents agree`,
        async () => {
          const st = await this.statuses(ids)
          last = st
            .map((s, i) => (s ? `${s.id} master=${s.master?.id}/${s.master?.term} ${s.members.filter((m) => m.state !== 'alive').map((m) => `${m.id}:${m.state}`).join(',')}` : `${ids[i]} no answer`))
            .join('; ')
          return st.every(
            (s) => s && ids.every((id) => stateIn(s, id) === 'alive') && s.master?.id === 'node-1' && s.master.term === st[0]!.master?.term,
          )
        },
        timeoutMs,
        100,
      )
    } catch (e) {
      throw new Error(`${(e as Error).message}\nlast views: ${last}`)
    }
  }

  /** Restart an agent with the same key, ports and data dir, and tap it again. */
  async restart(id: string): Promise<void> {
    const old = this.agents.get(id)!
    await old.kill()
    this.taps.get(id)?.close()
    const a = new AgentProc(old.spec)
    this.cluster.agents.push(a)
    this.agents.set(id, a)
    await waitFor(`${id} API after restart`, () => a.status(), 30_000, 50)
    this.taps.set(id, new Tap(a))
  }

  /** Max over `observers` of the first event after t0 matching pred (null when some observer never saw it). */
  allSaw(observers: string[], t0: number, pred: (e: any) => boolean): { first: number; all: number } | null {
    const times = observers.map((id) => this.taps.get(id)!.first(t0, pred))
    if (times.some((t) => t === null)) return null
    return { first: Math.min(...(times as number[])) - t0, all: Math.max(...(times as number[])) - t0 }
  }

  async waitSaw(what: string, observers: string[], t0: number, pred: (e: any) => boolean) {
    return waitFor(what, async () => this.allSaw(observers, t0, pred), 60_000, 50)
  }

  async destroy(): Promise<void> {
    for (const t of this.taps.values()) t.close()
    await this.cluster.destroy()
  }
}

function procSample(pid: number): { cpuTicks: number; rssKb: number; wchar: number; rchar: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const cpuTicks = Number(fields[11]) + Number(fields[12])
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])
  const io = readFileSync(`/proc/${pid}/io`, 'utf8')
  return { cpuTicks, rssKb, wchar: Number(/wchar: (\d+)/.exec(io)![1]), rchar: Number(/rchar: (\d+)/.exec(io)![1]) }
}

function sumMetric(text: string, name: string): number {
  let sum = 0
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  return sum
}

type Series = Record<string, number[]>

async function runSize(n: number): Promise<{ series: Series; idle: Record<string, number> }> {
  const b = new Bench(n)
  running.add(b)
  const series: Series = {}
  const add = (k: string, v: number) => (series[k] ??= []).push(v)
  const log = (s: string) => console.log(`[n=${n}] ${s}`)
  try {
    const tStart = performance.now()
    await b.start()
    log(`cold start converged in ${((performance.now() - tStart) / 1000).toFixed(1)} s (includes process start)`)

    // ---- idle cost
    await sleep(5_000)
    const agents = [...b.agents.values()]
    // Scrape /metrics outside the window: its HTTP response would count as written bytes.
    const sentBefore = await Promise.all(agents.map(async (a) => sumMetric(await a.metrics(), 'conclave_bytes_sent_total')))
    const before = agents.map((a, i) => ({ p: procSample(a.pid), sent: sentBefore[i], at: performance.now() }))
    await sleep(idleS * 1000)
    const after = agents.map((a) => ({ p: procSample(a.pid), sent: 0, at: performance.now() }))
    const sentAfter = await Promise.all(agents.map(async (a) => sumMetric(await a.metrics(), 'conclave_bytes_sent_total')))
    after.forEach((x, i) => (x.sent = sentAfter[i]))
    const hz = 100
    const per = agents.map((_, i) => {
      const dt = (after[i].at - before[i].at) / 1000
      return {
        cpu: ((after[i].p.cpuTicks - before[i].p.cpuTicks) / hz / dt) * 100,
        rss: after[i].p.rssKb / 1024,
        app: (after[i].sent - before[i].sent) / dt,
        wchar: (after[i].p.wchar - before[i].p.wchar) / dt,
      }
    })
    const mean = (k: keyof (typeof per)[0]) => per.reduce((s, x) => s + x[k], 0) / per.length
    const max = (k: keyof (typeof per)[0]) => Math.max(...per.map((x) => x[k]))
    const idle = {
      cpuMean: mean('cpu'), cpuMax: max('cpu'), rssMean: mean('rss'), rssMax: max('rss'),
      appMean: mean('app'), appMax: max('app'), wcharMean: mean('wchar'), wcharMax: max('wchar'),
    }
    b.tapAll()
    await sleep(500)
    log(`idle: cpu ${idle.cpuMean.toFixed(2)}% rss ${idle.rssMean.toFixed(0)} MB app ${idle.appMean.toFixed(0)} B/s wchar ${idle.wcharMean.toFixed(0)} B/s`)

    for (let r = 1; r <= reps; r++) {
      // ---- join: a new agent until every existing member has it alive
      const jid = `node-${100 + r}`
      const joiner = await b.cluster.spawn(jid, [b.seed], ['--log-level', 'info'])
      const listening = await waitFor(`${jid} listening`, async () => {
        const line = joiner.stderr.split('\n').find((l) => l.includes('listening'))
        return line ? Date.parse(JSON.parse(line).time) : null
      }, 30_000, 20)
      const others = b.ids()
      const join = await b.waitSaw(`${jid} joined everywhere`, others, listening, (e) => e.type === 'member-joined' && e.member.id === jid && e.member.state === 'alive')
      add('join convergence (all members see the joiner)', join.all)
      log(`join ${r}: ${join.all} ms`)
      joiner.signal('SIGTERM')
      await joiner.exited
      await b.waitSaw(`${jid} left everywhere`, others, listening, (e) => e.type === 'member-state' && e.member.id === jid && e.member.state === 'left')

      // ---- SIGKILL of a member (the highest id)
      const victim = `node-${n}`
      const rest = b.ids().filter((id) => id !== victim)
      let t0 = Date.now()
      b.agents.get(victim)!.signal('SIGKILL')
      const dead = await b.waitSaw(`${victim} dead everywhere`, rest, t0, (e) => e.type === 'member-state' && e.member.id === victim && e.member.state === 'dead')
      const suspected = b.allSaw(rest, t0, (e) => (e.type === 'member-state' && e.member.id === victim) || (e.type === 'suspicion' && e.id === victim))
      add('SIGKILL member: first suspicion/verdict anywhere', suspected!.first)
      add('SIGKILL member: dead in every view', dead.all)
      log(`kill ${r}: dead everywhere ${dead.all} ms`)
      await b.restart(victim)
      await b.converged(`${victim} back after restart`)

      // ---- SIGSTOP of a member
      t0 = Date.now()
      b.agents.get(victim)!.signal('SIGSTOP')
      const sdead = await b.waitSaw(`${victim} (stopped) dead everywhere`, rest, t0, (e) => e.type === 'member-state' && e.member.id === victim && e.member.state === 'dead')
      add('SIGSTOP member: dead in every view', sdead.all)
      log(`stop ${r}: dead everywhere ${sdead.all} ms`)
      b.agents.get(victim)!.signal('SIGCONT')
      await b.converged(`${victim} back after SIGCONT`)

      // ---- SIGKILL of the master
      const survivors = b.ids().filter((id) => id !== 'node-1')
      t0 = Date.now()
      b.agents.get('node-1')!.signal('SIGKILL')
      const mk = await b.waitSaw('node-2 master everywhere', survivors, t0, (e) => e.type === 'master-changed' && e.master?.id === 'node-2')
      add('SIGKILL master: new master agreed by all', mk.all)
      log(`master kill ${r}: ${mk.all} ms`)
      await b.restart('node-1')
      await b.converged('node-1 master again after restart')

      // ---- SIGSTOP of the master
      t0 = Date.now()
      b.agents.get('node-1')!.signal('SIGSTOP')
      const ms = await b.waitSaw('node-2 master everywhere (stop)', survivors, t0, (e) => e.type === 'master-changed' && e.master?.id === 'node-2')
      add('SIGSTOP master: new master agreed by all', ms.all)
      log(`master stop ${r}: ${ms.all} ms`)
      b.agents.get('node-1')!.signal('SIGCONT')
      await b.converged('node-1 master again after SIGCONT')
    }
    return { series, idle }
  } finally {
    await b.destroy()
    running.delete(b)
  }
}

const fmt = (xs: number[] | undefined) => {
  if (!xs || xs.length === 0) return 'n/a'
  const s = [...xs].sort((a, b) => a - b)
  const med = s[Math.floor(s.length / 2)]
  return `${(med / 1000).toFixed(2)} s (${(s[0] / 1000).toFixed(2)}–${(s[s.length - 1] / 1000).toFixed(2)})`
}

const targets: Record<string, string> = {
  'join convergence (all members see the joiner)': 'Serf: 0.34 s',
  'SIGKILL member: first suspicion/verdict anywhere': '',
  'SIGKILL member: dead in every view': '≤ 1 s',
  'SIGSTOP member: dead in every view': '≤ 3 s',
  'SIGKILL master: new master agreed by all': '≤ 1.5 s',
  'SIGSTOP master: new master agreed by all': '≤ 4 s',
}

// Kill every agent this run started if the benchmark itself is interrupted.
const running = new Set<Bench>()
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void Promise.all([...running].map((b) => b.destroy())).finally(() => process.exit(130))
  })
}

const results: Record<number, Awaited<ReturnType<typeof runSize>>> = {}
const load0 = loadavg()[0]
for (const n of sizes) results[n] = await runSize(n)
const load1 = loadavg()[0]

const cmd = `npx tsx scripts/bench/membership.ts --sizes ${sizes.join(',')} --reps ${reps} --idle-s ${idleS}${nodeFlags.length ? ` --node-flags='${nodeFlags.join(' ')}'` : ''}`
const lines: string[] = []
lines.push('# Membership benchmark', '')
lines.push(`Real agent processes on 127.0.0.1 (bootstrap, no mDNS, default protocol settings${nodeFlags.length ? `, node ${nodeFlags.join(' ')}` : ''}), ${reps} repetitions per row;`)
lines.push('median (min–max). Times come from the agents’ own event stamps (`GET /v1/events`), measured from the signal.')
lines.push(`Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), shared; 1-min load average ${load0.toFixed(1)} at start, ${load1.toFixed(1)} at the end.`)
lines.push(`Generated ${new Date().toISOString()} by:`, '', '```sh', cmd, '```', '')
lines.push(`| measurement | ${sizes.map((n) => `${n} agents`).join(' | ')} | target |`)
lines.push(`|---|${sizes.map(() => '---').join('|')}|---|`)
for (const k of Object.keys(targets)) lines.push(`| ${k} | ${sizes.map((n) => fmt(results[n].series[k])).join(' | ')} | ${targets[k]} |`)
const idleRow = (label: string, f: (i: Record<string, number>) => string, target: string) =>
  lines.push(`| ${label} | ${sizes.map((n) => f(results[n].idle)).join(' | ')} | ${target} |`)
idleRow('idle CPU per agent, mean (max)', (i) => `${i.cpuMean.toFixed(2)} % (${i.cpuMax.toFixed(2)} %)`, '≤ 1 % of a core')
idleRow('idle RSS per agent, mean (max)', (i) => `${i.rssMean.toFixed(0)} MB (${i.rssMax.toFixed(0)} MB)`, '≤ 110 MB')
idleRow('idle protocol bytes sent per agent (encoded messages)', (i) => `${i.appMean.toFixed(0)} B/s (${i.appMax.toFixed(0)} B/s)`, '≤ 1,000 B/s')
idleRow('idle bytes written per agent (all write syscalls: TCP incl. noise/yamux/gossipsub framing, logs)', (i) => `${i.wcharMean.toFixed(0)} B/s (${i.wcharMax.toFixed(0)} B/s)`, '≤ 1,000 B/s')
lines.push('')
lines.push(`Idle figures: ${idleS} s window after the cluster converged and settled 5 s. CPU from /proc/<pid>/stat (utime+stime),`)
lines.push('RSS from /proc/<pid>/status, bytes written from /proc/<pid>/io `wchar`; agents run the compiled dist/ through bin/conclave.js.')
const out = resolve(ROOT, args.out)
writeFileSync(out, lines.join('\n') + '\n')
console.log(lines.join('\n'))
console.log(`\nwritten to ${out}`)
process.exit(0)
