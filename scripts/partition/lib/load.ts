// The task side of the checks: a masterOnly probe task submitted continuously through every agent, a few
// async tasks, and the analysis of the probe record (the shared file the probe command appends to).
import { existsSync, readFileSync } from 'node:fs'
import type { Cluster } from './cluster.ts'
import { sleep } from './sys.ts'

export interface ProbeRecord { task: string; node: string; term: number | null; attempt: number | null; start: number; end: number; pid: number; orphaned: boolean }
interface Ack { id: string; via: string; node: string; term: number | null; attempt: number | null; t: number }
interface AsyncTask { id: string; via: string; t: number; restartsAtAccept: number }

export interface TaskSupport { supported: boolean; why: string }

/** Does this agent build serve POST /v1/tasks? A missing route (404 from the router) means not yet. */
export async function detectTasks(c: Cluster, via: string): Promise<TaskSupport> {
  try {
    const r = await c.api(via, 'POST', '/v1/tasks', { type: 'probe', payload: {}, id: `detect-${c.s.prefix}-${Date.now()}`, timeoutMs: 20_000 }, 25_000)
    if (r.status === 404 && /route|not found/i.test(r.text) && !/task/i.test(String(r.body?.error ?? ''))) return { supported: false, why: `POST /v1/tasks answered 404 (${r.text.slice(0, 80)})` }
    if (r.status === 200) return { supported: true, why: `probe ran on ${r.body?.node} (term ${r.body?.term})` }
    return { supported: true, why: `POST /v1/tasks exists but the probe failed: ${r.status} ${r.text.slice(0, 200)}` }
  } catch (e) {
    return { supported: false, why: `POST /v1/tasks failed: ${(e as Error).message}` }
  }
}

export class ProbeLoad {
  readonly acks: Ack[] = []
  readonly errors = new Map<string, number>()
  readonly asyncAccepted: AsyncTask[] = []
  readonly failedAsync: string[] = []
  submitted = 0
  private running = false
  private loops: Promise<void>[] = []
  private started = new Set<string>()
  private seq = 0

  constructor(private c: Cluster, private name: string,
    private o = { intervalMs: 400, timeoutMs: 8000, asyncEveryMs: 2500, asyncTimeoutMs: 30_000 }) {}

  start(): void {
    this.running = true
    const supervise = async () => {
      while (this.running) {
        for (const id of this.c.ids()) if (!this.started.has(id)) { this.started.add(id); this.loops.push(this.submitter(id)) }
        await sleep(250)
      }
    }
    this.loops.push(supervise(), this.asyncSubmitter())
  }

  async stop(): Promise<void> { this.running = false; await Promise.all(this.loops) }

  private count(what: string) { this.errors.set(what, (this.errors.get(what) ?? 0) + 1) }

  /** One synchronous submitter per agent: from every side of any partition. */
  private async submitter(via: string): Promise<void> {
    let k = 0
    while (this.running) {
      const n = this.c.node(via)
      if (n.proc !== 'running') { await sleep(200); continue }
      const id = `${this.name}-${via}-${++k}`
      const t = Date.now()
      this.submitted++
      try {
        const r = await this.c.api(via, 'POST', '/v1/tasks', { type: 'probe', payload: { via }, id, timeoutMs: this.o.timeoutMs }, this.o.timeoutMs + 4000)
        if (r.status === 200 && r.body) this.acks.push({ id, via, node: r.body.node, term: r.body.term ?? null, attempt: r.body.attempt ?? null, t: Date.now() })
        else this.count(`${r.status} ${String(r.body?.error ?? r.text).slice(0, 40)}`)
      } catch (e) {
        this.count(/timeout/.test((e as Error).message) ? 'http timeout' : 'connection error')
      }
      await sleep(Math.max(50, this.o.intervalMs - (Date.now() - t)))
    }
  }

  private async asyncSubmitter(): Promise<void> {
    while (this.running) {
      await sleep(this.o.asyncEveryMs)
      const live = this.c.ids().filter((id) => this.c.node(id).proc === 'running')
      if (!live.length) continue
      const via = live[this.seq % live.length]
      const id = `${this.name}-async-${++this.seq}`
      try {
        const r = await this.c.api(via, 'POST', '/v1/tasks?async=1', { type: 'probe', payload: { via, async: true }, id, timeoutMs: this.o.asyncTimeoutMs }, 5000)
        if (r.status === 202) this.asyncAccepted.push({ id, via, t: Date.now(), restartsAtAccept: this.c.node(via).starts })
        else this.count(`async ${r.status} ${String(r.body?.error ?? r.text).slice(0, 40)}`)
      } catch (e) { this.count('async ' + ((e as Error).message.includes('timeout') ? 'http timeout' : 'connection error')) }
    }
  }

  /**
   * Every accepted async task must reach an outcome (succeeded or failed with a reason) on the agent that
   * accepted it, at the latest a little after the task's own deadline (it may wait that long for a master).
   * An agent that was killed and never started again cannot be asked: those are reported apart.
   */
  async checkAsync(graceMs: number, from = 0): Promise<{ violations: string[]; succeeded: string[]; failed: number; unverifiable: number }> {
    const violations: string[] = []
    const succeeded: string[] = []
    let failed = 0, unverifiable = 0
    for (const a of this.asyncAccepted) {
      if (a.t < from) continue
      const until = Math.max(Date.now() + 2000, a.t + this.o.asyncTimeoutMs + graceMs)
      const n = this.c.node(a.via)
      if (n.proc !== 'running') { unverifiable++; continue }
      let last = ''
      for (;;) {
        let state = ''
        try {
          const r = await this.c.api(a.via, 'GET', `/v1/tasks/${encodeURIComponent(a.id)}`, undefined, 3000)
          if (r.status === 404) { last = '404 (unknown to the agent that accepted it)'; state = 'lost' }
          else { state = String(r.body?.state ?? r.body?.status ?? ''); last = `${r.status} state=${state}${r.body?.outcome?.error ? ` ${r.body.outcome.error}: ${r.body.outcome.detail ?? ''}` : ''}` }
        } catch (e) { last = (e as Error).message }
        if (state === 'succeeded') { succeeded.push(a.id); break }
        if (state === 'failed') { failed++; this.failedAsync.push(`${a.id}: ${last}`); break }
        if (state === 'lost' || Date.now() > until) { violations.push(`async task ${a.id} accepted by ${a.via} was lost (no outcome ${((Date.now() - a.t) / 1000).toFixed(0)} s after it was accepted with a ${this.o.asyncTimeoutMs / 1000} s deadline): ${last}`); break }
        await sleep(500)
      }
    }
    return { violations, succeeded, failed, unverifiable }
  }
}

export function readRecord(file: string): ProbeRecord[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ProbeRecord)
}

export interface RecordCheck { violations: string[]; notes: string[]; runs: number; orphaned: number; failoverDuplicates: number; overlaps: number }

/**
 * - masterOnly intervals of different nodes never overlap (quorum=majority only);
 * - a later mastership never carries a lower term;
 * - every acknowledged task is in the record exactly once, on the node the ack named. A second run on
 *   another node with a higher attempt and a higher term is the at-least-once retry after a failover (under quorum=none:
 *   any runs of distinct attempts on distinct nodes)
 *   (the first master ran it but its answer was lost); it is counted and shown, not hidden.
 */
export function checkRecord(records: ProbeRecord[], acked: Array<{ id: string; node: string; attempt?: number | null }>, o: { exclusive: boolean; ignore?: (r: ProbeRecord) => boolean }): RecordCheck {
  const violations: string[] = []
  const notes: string[] = []
  const runs = records.filter((r) => !o.ignore?.(r))
  const complete = runs.filter((r) => !r.orphaned)
  const orphaned = runs.length - complete.length
  let overlaps = 0
  // overlap of different masters: sweep by start time, remembering the latest end per node
  const sorted = [...runs].sort((a, b) => a.start - b.start)
  const openEnd = new Map<string, ProbeRecord>()
  for (const r of sorted) {
    for (const [node, prev] of openEnd) {
      if (node !== r.node && prev.end > r.start) {
        overlaps++
        if (o.exclusive && overlaps <= 5) violations.push(`two masters at once: ${prev.node} ran ${prev.task} (term ${prev.term}) until ${iso(prev.end)}, ${r.node} started ${r.task} (term ${r.term}) at ${iso(r.start)}, overlap ${((prev.end - r.start) / 1000).toFixed(1)} ms`)
      }
    }
    const cur = openEnd.get(r.node)
    if (!cur || cur.end < r.end) openEnd.set(r.node, r)
    for (const [node, prev] of openEnd) if (prev.end <= r.start) openEnd.delete(node)
  }
  if (o.exclusive && overlaps > 5) violations.push(`... ${overlaps} overlapping pairs in all`)
  if (!o.exclusive && overlaps) notes.push(`${overlaps} overlapping runs on different masters (expected: quorum=none)`)
  // terms by time: a run that starts after another ended never has a lower term
  if (o.exclusive) {
    let maxEnded: ProbeRecord | null = null
    let k = 0
    const byEnd = [...complete].sort((a, b) => a.end - b.end)
    let i = 0
    for (const r of [...complete].sort((a, b) => a.start - b.start)) {
      while (i < byEnd.length && byEnd[i].end <= r.start) { if (!maxEnded || (byEnd[i].term ?? 0) > (maxEnded.term ?? 0)) maxEnded = byEnd[i]; i++ }
      if (maxEnded && r.term !== null && maxEnded.term !== null && r.term < maxEnded.term && ++k <= 3)
        violations.push(`stale term: ${r.node} ran ${r.task} under term ${r.term} after ${maxEnded.node} had run ${maxEnded.task} under term ${maxEnded.term}`)
    }
  }
  for (const r of complete) if (r.term === null || Number.isNaN(r.term)) { violations.push(`${r.node} ran ${r.task} without CONCLAVE_MASTER_TERM`); break }
  // exactly once
  const byTask = new Map<string, ProbeRecord[]>()
  for (const r of complete) { const l = byTask.get(r.task) ?? []; l.push(r); byTask.set(r.task, l) }
  let failoverDuplicates = 0, missing = 0, dups = 0
  for (const a of acked) {
    const l = byTask.get(a.id) ?? []
    if (!l.length) { if (++missing <= 5) violations.push(`task ${a.id} acknowledged as succeeded${a.node ? ` on ${a.node}` : ''} but not in the record`); continue }
    if (a.node && !l.some((r) => r.node === a.node)) violations.push(`task ${a.id} acknowledged as run by ${a.node}, record says ${l.map((r) => r.node).join(',')}`)
    if (l.length > 1) {
      const byTime = [...l].sort((x, y) => x.start - y.start)
      // A retry through failover: a higher attempt under a higher term (where terms are fencing tokens), on another
      // node or on the same one after it lost the role (its run was killed) and won it back under a new term.
      // Under quorum=none there is no fencing: an older attempt may still run late on the other side of a heal.
      const failover = o.exclusive
        ? byTime.every((r, i) => i === 0 || ((r.attempt ?? 0) > (byTime[i - 1].attempt ?? 0) && (r.term ?? 0) > (byTime[i - 1].term ?? 0)))
        : new Set(l.map((r) => r.attempt)).size === l.length && new Set(l.map((r) => r.node)).size === l.length
      if (failover) { failoverDuplicates++; notes.push(`task ${a.id} ran ${l.length} times: ${byTime.map((r) => `${r.node}@${r.term}#${r.attempt}`).join(' then ')} (retry after failover)`) }
      else if (++dups <= 5) violations.push(`task ${a.id} ran ${l.length} times: ${byTime.map((r) => `${r.node}@term${r.term}/attempt${r.attempt}`).join(', ')}`)
    }
  }
  if (missing > 5) violations.push(`... ${missing} acknowledged tasks missing from the record in all`)
  if (orphaned) notes.push(`${orphaned} probe run(s) outlived their agent (killed mid-task) and stopped early`)
  return { violations, notes, runs: complete.length, orphaned, failoverDuplicates, overlaps }
}

function iso(us: number): string { return new Date(us / 1000).toISOString().slice(11, 23) + String(Math.floor(us % 1000)).padStart(3, '0') }
