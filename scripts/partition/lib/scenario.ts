// The scenario runner: brings a cluster up, watches it (API monitor + probe tasks), runs the scenario's
// faults, then checks what every scenario must satisfy and prints the timeline.
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Cluster, convergence, pruneRuns, staleRuns, teardown } from './cluster.ts'
import { Monitor } from './monitor.ts'
import { ProbeLoad, checkRecord, detectTasks, readRecord, type TaskSupport } from './load.ts'
import { Timeline, describe, type TimelineEvent } from './timeline.ts'
import { lowestId, sleep } from './sys.ts'
import { table } from './table.ts'
import { preflight } from './preflight.ts'
import { listRuns } from './state.ts'
import { ViewLog } from './views.ts'

export const QUICK = /^(1|true|yes)$/i.test(process.env.PARTITION_QUICK ?? '') || (!!process.env.CI && process.env.PARTITION_QUICK !== '0')

export interface ScenarioDef {
  name: string
  title: string
  nodes?: number | string[]
  quorum?: 'majority' | 'none'
  /** A scenario that splits a cold start expects several clusters to be born (and to merge); others expect one. */
  lineages?: 'one' | 'several'
  /** Bound for the final agreement after the last fault ends, printed with the result. */
  convergeBoundMs?: number
  run(s: Ctx): Promise<void>
}

export interface ScenarioResult {
  name: string
  title: string
  ok: boolean
  violations: string[]
  notes: string[]
  measures: Array<{ name: string; ms: number | null; boundMs: number }>
  /** Tables a scenario adds (the fault matrix's per-observer figures), printed after the measures. */
  reports: Array<{ title: string; headers: string[]; rows: string[][] }>
  durationMs: number
  tasks: { support: TaskSupport; submitted: number; acked: number; runs: number; failoverDuplicates: number; async: number; asyncOk: number; errors: Record<string, number> } | null
  runDir: string | null
}

export class Ctx {
  readonly violations: string[] = []
  readonly notes: string[] = []
  readonly measures: ScenarioResult['measures'] = []
  readonly reports: ScenarioResult['reports'] = []
  private viewLog: ViewLog | null = null
  /**
   * Task checks count from this wall-clock time (epoch ms; 0: from the start). A scenario that starts a new cluster
   * from wiped data dirs moves it past the wipe: work accepted by a node whose journal was wiped is gone by design.
   */
  checkTasksFrom = 0
  lastFaultAt = 0 // timeline ms of the last fault injected
  lastFaultEndAt = 0
  constructor(readonly cluster: Cluster, readonly monitor: Monitor, readonly tl: Timeline, readonly quick: boolean) {}

  log(msg: string): void { this.tl.add('note', { msg }) }
  /** A table printed with the result; also a `report` event (JSON line) on the timeline. */
  report(title: string, headers: string[], rows: string[][], data?: unknown): void {
    this.reports.push({ title, headers, rows })
    this.tl.add('report', { title, data: data ?? rows.map((r) => Object.fromEntries(headers.map((h, i) => [h, r[i]]))) })
  }
  /** Follows every agent's /v1/events (started on first use, stopped by the runner): each member-state change. */
  async views(): Promise<ViewLog> {
    if (!this.viewLog) { this.viewLog = new ViewLog(this.cluster, this.tl); await this.viewLog.start() }
    return this.viewLog
  }
  async stopViews(): Promise<void> { await this.viewLog?.stop() }
  violation(what: string): void { this.violations.push(what); this.tl.add('violation', { what }) }
  check(ok: boolean, what: string): boolean { if (!ok) this.violation(what); return ok }
  sleep(ms: number): Promise<void> { return sleep(ms) }

  /** Injects a fault and marks it on the timeline; measurements count from here. */
  async fault(what: string, fn: () => unknown | Promise<unknown>): Promise<void> {
    await fn()
    this.lastFaultAt = this.tl.now()
    this.tl.add('fault', { what })
  }
  /** Ends the network faults (or marks the end of a process fault, e.g. a resume): convergence counts from here. */
  async end(what: string, fn: () => unknown | Promise<unknown> = () => this.cluster.heal()): Promise<void> {
    await fn()
    this.lastFaultEndAt = this.tl.now()
    this.tl.add('heal', { what })
  }

  /**
   * Waits until pred holds (checked against the monitor's latest views every 50 ms). Records the time since
   * `from` (default: the last fault) as a measurement; a timeout is a violation unless required=false.
   */
  async measure(name: string, pred: () => boolean, o: { boundMs: number; from?: number; required?: boolean }): Promise<number | null> {
    const from = o.from ?? this.lastFaultAt
    const until = Date.now() + o.boundMs
    while (Date.now() < until) {
      if (pred()) {
        const ms = this.tl.now() - from
        this.measures.push({ name, ms, boundMs: o.boundMs })
        this.tl.add('measure', { name, ms })
        return ms
      }
      await sleep(50)
    }
    this.measures.push({ name, ms: null, boundMs: o.boundMs })
    this.tl.add('measure', { name, ms: null, boundMs: o.boundMs })
    if (o.required !== false) this.violation(`${name}: not reached within ${o.boundMs} ms (${this.describeViews()})`)
    return null
  }

  /** Sleeps, checking an invariant every 100 ms; each distinct failure is a violation. */
  async hold(ms: number, invariant?: () => string | null): Promise<void> {
    const until = Date.now() + ms
    const seen = new Set<string>()
    while (Date.now() < until) {
      const bad = invariant?.()
      if (bad && !seen.has(bad)) { seen.add(bad); this.violation(bad) }
      await sleep(Math.min(100, Math.max(1, until - Date.now())))
    }
  }

  // ---- views ----
  live(): string[] { return this.cluster.liveIds() }
  masterOf(id: string): string | null { return this.monitor.masterOf(id) }
  /** A hold invariant: at most one agent claims to be master at any moment (null while that holds). */
  twoMasters(): string | null {
    const claimers = this.cluster.ids().filter((x) => this.masterOf(x) === x)
    return claimers.length > 1 ? `two agents claim to be master at once: ${claimers.join(', ')}` : null
  }
  stateOf(observer: string, member: string): string | null { return this.monitor.stateOf(observer, member) }
  /** The master all of `ids` agree on (null: all agree there is none), undefined when they disagree or one is silent. */
  agreedMaster(ids: string[]): string | null | undefined {
    let m: string | null | undefined = undefined
    for (const id of ids) {
      const st = this.monitor.status(id)
      if (!st) return undefined
      const x = st.master?.id ?? null
      if (m === undefined) m = x
      else if (m !== x) return undefined
    }
    return m
  }
  /** All observers report `member` in one of the states. */
  allSee(member: string, states: string[], observers = this.live().filter((x) => x !== member)): boolean {
    return observers.every((o) => states.includes(this.stateOf(o, member) ?? ''))
  }
  anySees(member: string, states: string[], observers = this.live().filter((x) => x !== member)): boolean {
    return observers.some((o) => states.includes(this.stateOf(o, member) ?? ''))
  }
  lowest(ids: string[]): string | null { return lowestId(ids) }
  describeViews(ids = this.cluster.ids()): string {
    return ids.map((id) => {
      const st = this.monitor.status(id)
      if (!st) return `${id}: -`
      const bad = st.members.filter((m) => m.state !== 'alive').map((m) => `${m.id}=${m.state}`)
      return `${id}: master ${st.master ? `${st.master.id}@${st.master.term}` : 'none'}${bad.length ? ' [' + bad.join(' ') + ']' : ''}`
    }).join('; ')
  }

  /**
   * Every live agent agrees on membership (all live nodes alive, identical views) and on one master: the
   * lowest live id. Measured from the end of the last fault.
   */
  async converge(boundMs: number, label = 'converge'): Promise<number | null> {
    const from = this.lastFaultEndAt || this.lastFaultAt
    const until = Date.now() + boundMs
    let why = ''
    while (Date.now() < until) {
      const ids = this.live()
      const st = await this.cluster.statuses(ids)
      const v = convergence(st, ids, lowestId(ids))
      if (v.ok) {
        const ms = this.tl.now() - from
        this.measures.push({ name: label, ms, boundMs })
        this.tl.add('measure', { name: label, ms, master: lowestId(ids), term: st.get(ids[0])?.master?.term })
        return ms
      }
      why = v.why
      await sleep(200)
    }
    this.measures.push({ name: label, ms: null, boundMs })
    this.tl.add('measure', { name: label, ms: null, boundMs })
    this.violation(`${label}: agents did not agree on membership and master within ${boundMs} ms: ${why}`)
    return null
  }
}

export function defineScenario(def: ScenarioDef): ScenarioDef { return def }

const live = new Set<Cluster>()
let handlersInstalled = false
function installCleanup(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  // Synchronous teardown on every way out; `npm run cluster -- down --all` repairs even a SIGKILL.
  process.on('exit', () => {
    for (const c of live) teardown(c.s)
    for (const r of listRuns()) if (!r.down && r.mode === 'harness' && r.ownerPid === process.pid) teardown(r) // e.g. a failed `up`
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => { console.error(`\n${sig}: tearing down`); process.exit(130) })
}

export interface RunOptions { print?: (line: string) => void; jsonl?: boolean }

export async function runScenario(def: ScenarioDef, o: RunOptions = {}): Promise<ScenarioResult> {
  const print = o.print ?? ((l: string) => console.log(l))
  installCleanup()
  for (const r of staleRuns()) { print(`removing leftovers of crashed run ${r.runId}`); teardown(r) }
  pruneRuns(40)
  const started = Date.now()
  const result: ScenarioResult = { name: def.name, title: def.title, ok: false, violations: [], notes: [], measures: [], reports: [], durationMs: 0, tasks: null, runDir: null }
  const quorum = def.quorum ?? 'majority'
  let cluster: Cluster | null = null
  let tl: Timeline | null = null
  let ctxRef: Ctx | null = null
  print(`\n=== ${def.name}: ${def.title} (quorum=${quorum}${QUICK ? ', QUICK durations' : ''})`)
  try {
    const ids = Array.isArray(def.nodes) ? def.nodes : undefined
    const upStart = Date.now()
    cluster = await Cluster.up({ nodes: typeof def.nodes === 'number' ? def.nodes : 5, ids, quorum, mode: 'harness', label: def.name, waitMs: 120_000 })
    live.add(cluster)
    result.runDir = cluster.dir
    tl = new Timeline(join(cluster.dir, 'timeline.jsonl'), o.jsonl ? print : null)
    tl.add('phase', { what: 'up', ms: Date.now() - upStart, nodes: cluster.ids(), dir: cluster.dir })
    const monitor = new Monitor(cluster, tl, 250, quorum === 'majority')
    monitor.start()
    const ctx = new Ctx(cluster, monitor, tl, QUICK)
    ctxRef = ctx
    const master = cluster.lowestLive()!
    const support = await detectTasks(cluster, master)
    tl.add('note', { msg: `tasks: ${support.supported ? 'on' : 'off'}: ${support.why}` })
    if (support.supported && /failed/.test(support.why)) ctx.violation(`probe task does not run: ${support.why}`)
    const load = support.supported ? new ProbeLoad(cluster, `${def.name}-${cluster.s.prefix}`) : null
    load?.start()
    await ctx.hold(1500)
    tl.add('phase', { what: 'scenario' })
    await def.run(ctx)
    tl.add('phase', { what: 'final agreement' })
    const bound = def.convergeBoundMs ?? 30_000
    await ctx.converge(bound, 'final agreement')
    await ctx.hold(1500) // let in-flight probes finish under the final master
    await load?.stop()
    await monitor.stop()
    await ctx.stopViews()
    ctx.violations.push(...monitor.violations.filter((v) => !ctx.violations.includes(v)))
    if ((def.lineages ?? 'one') === 'one' && monitor.clusterIds.size > 1) {
      ctx.violation(`one cluster, one lineage: ${monitor.clusterIds.size} cluster ids were reported (${[...monitor.clusterIds].join(', ')})`)
    }
    if (load) {
      tl.add('phase', { what: 'task checks' })
      const asyncCheck = await load.checkAsync(15_000, ctx.checkTasksFrom)
      ctx.violations.push(...asyncCheck.violations)
      if (asyncCheck.failed) ctx.notes.push(`${asyncCheck.failed} async task(s) ended failed (an outcome, not a loss): ${load.failedAsync.slice(0, 3).join('; ')}`)
      if (asyncCheck.unverifiable) ctx.notes.push(`${asyncCheck.unverifiable} async task(s) were accepted by an agent that did not come back; not verifiable`)
      const records = readRecord(cluster.s.recordFile)
      // Tasks with a run that started before checkTasksFrom are left out whole (their retries included).
      const early = new Set(records.filter((r) => r.start / 1000 < ctx.checkTasksFrom).map((r) => r.task))
      const rec = checkRecord(records,
        [...load.acks.filter((a) => a.t >= ctx.checkTasksFrom && !early.has(a.id)).map((a) => ({ id: a.id, node: a.node })), ...asyncCheck.succeeded.map((id) => ({ id, node: '' }))],
        { exclusive: quorum === 'majority', ignore: (r) => early.has(r.task) })
      ctx.violations.push(...rec.violations)
      ctx.notes.push(...rec.notes.slice(0, 8))
      if (rec.notes.length > 8) ctx.notes.push(`... ${rec.notes.length - 8} more notes`)
      result.tasks = { support, submitted: load.submitted, acked: load.acks.length, runs: rec.runs, failoverDuplicates: rec.failoverDuplicates,
        async: load.asyncAccepted.length, asyncOk: asyncCheck.succeeded.length, errors: Object.fromEntries(load.errors) }
      if (!load.acks.length) ctx.violation('no probe task was acknowledged during the whole scenario')
    } else {
      result.tasks = { support, submitted: 0, acked: 0, runs: 0, failoverDuplicates: 0, async: 0, asyncOk: 0, errors: {} }
      ctx.notes.push(`task checks off: ${support.why}`)
    }
    result.violations = ctx.violations
    result.notes.push(...ctx.notes)
    result.measures = ctx.measures
    result.reports = ctx.reports
  } catch (e) {
    result.violations.push(`harness error: ${(e as Error).stack ?? e}`)
    tl?.add('violation', { what: `harness error: ${(e as Error).message}` })
  } finally {
    await ctxRef?.stopViews().catch(() => {})
    if (ctxRef && !result.reports.length) result.reports = ctxRef.reports
    result.durationMs = Date.now() - started
    result.ok = result.violations.length === 0
    if (tl) printTimeline(def, tl.events, result, print, !result.ok && !o.jsonl)
    if (cluster) {
      const errs = teardown(cluster.s) // keeps logs, timeline and record; `npm run cluster -- down --all --purge` removes them
      live.delete(cluster)
      if (errs.length) result.violations.push(`cleanup: ${errs.join('; ')}`)
      print(`run folder: ${cluster.dir}`)
    }
    // a cluster whose `up` failed is not in `cluster`: its state file still names everything it created
    for (const r of listRuns()) if (!r.down && r.mode === 'harness' && r.ownerPid === process.pid) { print(`run folder: ${r.dir} (up failed)`); teardown(r) }
  }
  return result
}

const SHOWN = new Set(['phase', 'fault', 'heal', 'measure', 'violation', 'master', 'api', 'member', 'note'])

/** Readable rows: from the start of the scenario on, the same change reported by several agents within
 *  half a second folded into one row ("node-2,node-3  master=node-1 term=4"). */
function foldRows(events: TimelineEvent[]): Array<{ t: number; kind: string; nodes: string[]; detail: string }> {
  const start = events.find((e) => e.kind === 'phase' && e.what === 'scenario')?.t ?? 0
  const rows: Array<{ t: number; kind: string; nodes: string[]; detail: string }> = []
  for (const e of events) {
    if (!SHOWN.has(e.kind)) continue
    if (e.t < start && !['phase', 'note', 'violation'].includes(e.kind)) continue
    const detail = describe(e).replace(/ incarnation=\d+/, '')
    const prev = [...rows].reverse().find((r) => e.t - r.t <= 500 && r.kind === e.kind && r.detail === detail)
    if (prev && e.node && !prev.nodes.includes(e.node)) { prev.nodes.push(e.node); continue }
    rows.push({ t: e.t, kind: e.kind, nodes: e.node ? [e.node] : [], detail })
  }
  return rows
}

function printTimeline(def: ScenarioDef, events: TimelineEvent[], r: ScenarioResult, print: (l: string) => void, dumpJsonl: boolean): void {
  // JSON lines: every event when asked (--jsonl) or on failure, else the key ones; the file always has them all.
  const key = new Set(['phase', 'fault', 'heal', 'measure', 'violation'])
  print(`--- timeline (JSON lines${dumpJsonl ? '' : ', key events'}) of ${def.name}`)
  for (const e of events) if (dumpJsonl || key.has(e.kind)) print(JSON.stringify(e))
  const rows = foldRows(events)
  const max = 120
  const shown = rows.length > max ? [...rows.slice(0, max / 2), { t: NaN, kind: '...', nodes: [], detail: `${rows.length - max} rows elided` }, ...rows.slice(-max / 2)] : rows
  print(`--- timeline of ${def.name} (${events.length} events; JSON lines in ${r.runDir ? join(r.runDir, 'timeline.jsonl') : '-'})`)
  print(table(['t (s)', 'event', 'agents', 'detail'], shown.map((e) => [Number.isNaN(e.t) ? '' : (e.t / 1000).toFixed(2), e.kind, e.nodes.join(','), e.detail.slice(0, 150)])))
  print(table(['measure', 'observed', 'bound'], r.measures.map((m) => [m.name, m.ms === null ? 'NOT REACHED' : `${(m.ms / 1000).toFixed(2)} s`, `${(m.boundMs / 1000).toFixed(0)} s`])))
  for (const rep of r.reports) { print(`--- ${rep.title}`); print(table(rep.headers, rep.rows)) }
  if (r.tasks) {
    const t = r.tasks
    print(t.support.supported
      ? `tasks: ${t.submitted} probes submitted, ${t.acked} acknowledged, ${t.runs} runs recorded, ${t.failoverDuplicates} retried after failover; async ${t.asyncOk}/${t.async} succeeded; refused/failed: ${JSON.stringify(t.errors)}`
      : `tasks: checks off (${t.support.why})`)
  }
  for (const n of r.notes) print(`note: ${n}`)
  for (const v of r.violations) print(`VIOLATION: ${v}`)
  print(`=== ${def.name}: ${r.violations.length ? `FAIL (${r.violations.length} violations)` : 'ok'} in ${(r.durationMs / 1000).toFixed(1)} s`)
}

/** Lets a scenario file run on its own: `npx tsx scripts/scenarios/kill-master.ts`. */
export async function runIfMain(metaUrl: string, def: ScenarioDef): Promise<void> {
  if (!process.argv[1] || resolve(process.argv[1]) !== fileURLToPath(metaUrl)) return
  const pf = preflight()
  if (!pf.ok) { console.log(`partition tests skipped: ${pf.why}`); return }
  const r = await runScenario(def, { jsonl: process.argv.includes('--jsonl') })
  process.exitCode = r.ok ? 0 : 1
}
