// Every member-state change each agent makes, from its own /v1/events stream (Server-Sent Events through the
// namespace's unix-socket proxy), stamped on arrival with the harness clock. The status monitor polls every
// 250 ms and misses a suspect -> alive that lasts less than that; the event stream misses nothing while the
// agent runs. From these changes `viewReport` computes the figures of the fault matrix: view changes per
// observer, false accusations of healthy members, removals and re-admissions of the faulty node, and how long
// the observers disagreed.
import http from 'node:http'
import type { Cluster } from './cluster.ts'
import type { Timeline } from './timeline.ts'
import { sleep } from './sys.ts'

export type ViewState = 'alive' | 'suspect' | 'dead' | 'left' | 'absent'

export interface ViewChange {
  t: number // timeline ms (arrival at the harness)
  observer: string
  member: string
  from: ViewState
  to: ViewState
  incarnation?: number
  kind: 'state' | 'joined' | 'removed'
}

/** Follows /v1/events of every agent of the cluster (reconnecting across restarts) until stop(). */
export class ViewLog {
  readonly changes: ViewChange[] = []
  /** Observers whose stream was cut at some point (a killed or restarted agent): their views have a gap. */
  readonly gaps = new Map<string, number>()
  private running = false
  private loops = new Map<string, Promise<void>>()
  private reqs = new Set<http.ClientRequest>()
  private supervisor: Promise<void> | null = null
  private connected = new Set<string>()

  constructor(private cluster: Cluster, private tl: Timeline) {}

  /** Starts following every agent; resolves once each live agent's stream is open (or after 5 s). */
  async start(): Promise<void> {
    this.running = true
    this.supervisor = (async () => {
      while (this.running) {
        for (const id of this.cluster.ids()) if (!this.loops.has(id)) this.loops.set(id, this.loop(id))
        await sleep(200)
      }
    })()
    const until = Date.now() + 5000
    while (Date.now() < until && !this.cluster.liveIds().every((id) => this.connected.has(id))) await sleep(50)
  }

  async stop(): Promise<void> {
    this.running = false
    for (const r of this.reqs) r.destroy()
    await this.supervisor
    await Promise.all(this.loops.values())
  }

  private async loop(id: string): Promise<void> {
    let first = true
    while (this.running) {
      const n = this.cluster.node(id)
      if (n.proc === 'killed' || n.proc === 'left' || n.proc === 'stopped') { await sleep(100); continue }
      await this.follow(id)
      if (!this.running) break
      if (!first || this.connected.has(id)) this.gaps.set(id, (this.gaps.get(id) ?? 0) + 1)
      first = false
      this.connected.delete(id)
      await sleep(200)
    }
  }

  /** One SSE connection; returns when it closes. */
  private follow(id: string): Promise<void> {
    return new Promise((resolve) => {
      const req = http.request({ socketPath: this.cluster.node(id).sock, method: 'GET', path: '/v1/events', agent: false,
        headers: { host: 'conclave', accept: 'text/event-stream', 'x-conclave-client': 'partition-harness' } }, (res) => {
        if (res.statusCode !== 200) { res.resume(); res.on('end', resolve); return }
        this.connected.add(id)
        res.setEncoding('utf8')
        let buf = ''
        res.on('data', (chunk: string) => {
          buf += chunk
          let at: number
          while ((at = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, at)
            buf = buf.slice(at + 2)
            const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')
            if (data) this.onEvent(id, data)
          }
        })
        res.on('end', resolve)
        res.on('error', () => resolve())
        res.on('close', () => resolve())
      })
      this.reqs.add(req)
      req.on('error', () => resolve())
      req.on('close', () => { this.reqs.delete(req); resolve() })
      req.end()
    })
  }

  private onEvent(observer: string, data: string): void {
    let e: any
    try { e = JSON.parse(data) } catch { return }
    const t = this.tl.now()
    let c: ViewChange | null = null
    if (e?.type === 'member-state' && e.member?.id) {
      c = { t, observer, member: e.member.id, from: e.previous, to: e.member.state, incarnation: e.member.incarnation, kind: 'state' }
    } else if (e?.type === 'member-joined' && e.member?.id) {
      c = { t, observer, member: e.member.id, from: 'absent', to: e.member.state, incarnation: e.member.incarnation, kind: 'joined' }
    } else if (e?.type === 'member-removed' && e.id) {
      c = { t, observer, member: e.id, from: this.lastState(observer, e.id), to: 'absent', kind: 'removed' }
    }
    if (!c || c.member === observer) return
    this.changes.push(c)
    this.tl.add('view', { node: observer, member: c.member, from: c.from, to: c.to, incarnation: c.incarnation })
  }

  private lastState(observer: string, member: string): ViewState {
    for (let i = this.changes.length - 1; i >= 0; i--) {
      const c = this.changes[i]!
      if (c.observer === observer && c.member === member) return c.to
    }
    return 'alive'
  }

  /** Time (timeline ms) at which every observer's latest change of `member` after `from` is to one of `states`. */
  allReached(member: string, states: ViewState[], observers: string[], from: number): number | null {
    let worst = -1
    for (const o of observers) {
      const cs = this.changes.filter((c) => c.observer === o && c.member === member && c.t >= from)
      const last = cs.at(-1)
      if (!last || !states.includes(last.to)) return null
      // the first change into the states after which it stayed there
      let i = cs.length - 1
      while (i > 0 && states.includes(cs[i - 1]!.to)) i--
      worst = Math.max(worst, cs[i]!.t)
    }
    return worst < 0 ? null : worst
  }
}

export interface ObserverFigures {
  observer: string
  role: 'healthy' | 'faulty' | 'crashed'
  viewChanges: number // member-state transitions it made (all members)
  faultyFlips: number // of those, transitions of its view of the faulty or crashed node(s)
  faultyCoarseFlips: number // of those, the ones between alive/suspect and dead/left/absent (what `serf members` shows)
  falseSuspect: number // healthy member (not faulty, not crashed) -> suspect
  falseDead: number // healthy member -> dead (a failure when the observer is healthy)
  removals: Record<string, number> // faulty/crashed member -> transitions into dead (or removed)
  readmissions: Record<string, number> // faulty/crashed member -> dead/removed -> alive
  falseDeadOf: string[] // "member@t" of each false death, for the violation text
}

export interface ViewReport {
  from: number
  to: number
  observers: ObserverFigures[]
  /** ms in [from, to] during which the healthy observers' views differed (suspect counted as alive, as Serf shows it). */
  disagreeMs: number
  /** the same, with suspect told apart from alive. */
  disagreeStrictMs: number
  /** longest single stretch of (coarse) disagreement. */
  longestDisagreeMs: number
}

const coarse = (s: ViewState): string => (s === 'suspect' ? 'alive' : s)

/**
 * Figures over [from, to] (timeline ms). `faulty`: the node the fault is about (its own view is reported but not
 * held to the bounds); `crashed`: members killed on purpose (their deaths are true, and they observe nothing).
 * `ids`: every member, whose initial state in every view is taken as alive (the scenario starts converged).
 */
export function viewReport(changes: ViewChange[], o: { ids: string[]; faulty: string[]; crashed?: string[]; from: number; to: number }): ViewReport {
  const crashed = o.crashed ?? []
  const special = new Set([...o.faulty, ...crashed])
  const inWindow = changes.filter((c) => c.t >= o.from && c.t <= o.to)
  const observers: ObserverFigures[] = o.ids.map((obs) => {
    const mine = inWindow.filter((c) => c.observer === obs)
    const f: ObserverFigures = {
      observer: obs, role: crashed.includes(obs) ? 'crashed' : o.faulty.includes(obs) ? 'faulty' : 'healthy',
      viewChanges: mine.filter((c) => c.kind !== 'joined' || c.from !== 'absent').length,
      faultyFlips: mine.filter((c) => special.has(c.member)).length,
      faultyCoarseFlips: mine.filter((c) => special.has(c.member) && coarse(c.from) !== coarse(c.to)).length,
      falseSuspect: 0, falseDead: 0, removals: {}, readmissions: {}, falseDeadOf: [],
    }
    for (const c of mine) {
      const healthyMember = !special.has(c.member)
      if (healthyMember && c.to === 'suspect') f.falseSuspect++
      if (healthyMember && (c.to === 'dead' || (c.kind === 'removed' && c.from !== 'left'))) { f.falseDead++; f.falseDeadOf.push(`${c.member}@${(c.t / 1000).toFixed(2)}s`) }
      if (special.has(c.member)) {
        if ((c.to === 'dead' && c.from !== 'dead') || (c.kind === 'removed' && c.from !== 'dead' && c.from !== 'left')) f.removals[c.member] = (f.removals[c.member] ?? 0) + 1
        if ((c.from === 'dead' || c.from === 'absent') && (c.to === 'alive' || c.to === 'suspect')) f.readmissions[c.member] = (f.readmissions[c.member] ?? 0) + 1
      }
    }
    return f
  })

  // Disagreement: replay every healthy observer's view as a step function from the window's start.
  const healthy = observers.filter((x) => x.role === 'healthy').map((x) => x.observer)
  const view = new Map<string, Map<string, ViewState>>()
  for (const obs of healthy) view.set(obs, new Map(o.ids.filter((m) => m !== obs).map((m) => [m, 'alive' as ViewState])))
  // changes before the window set the starting views
  for (const c of changes.filter((c) => c.t < o.from)) view.get(c.observer)?.set(c.member, c.to)
  const differs = (strict: boolean): boolean => {
    for (const m of o.ids) {
      let ref: string | null = null
      for (const obs of healthy) {
        if (obs === m) continue
        const s = view.get(obs)!.get(m) ?? 'absent'
        const k = strict ? s : coarse(s)
        if (ref === null) ref = k
        else if (ref !== k) return true
      }
    }
    return false
  }
  let disagreeMs = 0, disagreeStrictMs = 0, longest = 0, stretch = 0
  let t = o.from
  let d = differs(false), ds = differs(true)
  const seq = inWindow.filter((c) => healthy.includes(c.observer))
  for (const c of [...seq, null]) {
    const next = c ? c.t : o.to
    if (d) { disagreeMs += next - t; stretch += next - t; longest = Math.max(longest, stretch) } else stretch = 0
    if (ds) disagreeStrictMs += next - t
    t = next
    if (!c) break
    view.get(c.observer)!.set(c.member, c.to)
    d = differs(false); ds = differs(true)
  }
  return { from: o.from, to: o.to, observers, disagreeMs, disagreeStrictMs, longestDisagreeMs: longest }
}

/** The per-observer table of a report. */
export function viewTable(r: ViewReport, special: string[]): { headers: string[]; rows: string[][] } {
  const headers = ['observer', 'role', 'view changes', `changes of ${special.join(',')}`, 'false suspect', 'false dead',
    ...special.flatMap((m) => [`${m} removed`, `${m} re-admitted`])]
  const rows = r.observers.map((x) => [x.observer, x.role, String(x.viewChanges), String(x.faultyFlips), String(x.falseSuspect), String(x.falseDead),
    ...special.flatMap((m) => [String(x.removals[m] ?? 0), String(x.readmissions[m] ?? 0)])])
  return { headers, rows }
}
