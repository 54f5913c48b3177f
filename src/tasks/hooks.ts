// Event hooks (the `on` config section), in the conventions operators already script against:
//   keepalived  master / backup / fault: this node's role changed (fault = no quorum in its view; backup = quorum,
//               not master). Also becomeMaster / stopMaster, the edges of holding the lease majority.
//   Serf        memberJoin / memberLeave / memberFail / memberUpdate (CONCLAVE_EVENT member-join, member-leave,
//               member-failed, member-update): another member changed.
// Hooks run one at a time in event order (a stopMaster never overtakes the becomeMaster before it), off the agent's
// path (the agent never waits for a hook), each with a timeout, the event in the environment and as JSON on stdin.
// Coalescing: member events of one kind that pile up (within `coalesceMs`, or while an earlier hook runs) become one
// run whose stdin lists every member; role transitions collapse to the latest role, and a role equal to the last one
// delivered runs nothing (fault -> backup -> fault while a hook runs is one fault, or nothing if fault was last).
import { Counter, type Registry } from 'prom-client'
import type { Logger } from 'pino'
import type { CoreEvent, Member } from '../core/types.ts'
import type { HookConfig, HookEvent, OnConfig } from './config.ts'
import { hookDefaults } from './config.ts'
import { runCommand } from './executor.ts'

/** Queued runs beyond this are dropped (and counted): a hook that never finishes must not grow memory for ever. */
const MAX_PENDING = 1000
/** Default wait before a member or role hook runs, so a burst (a partition, a rolling restart) is one run. */
export const DEFAULT_COALESCE_MS = 500
/** How often the role (master/backup/fault) is checked besides on every core event. */
const ROLE_CHECK_MS = 500
/** Bound on the members one coalesced run lists (stdin and CONCLAVE_MEMBERS). */
const MAX_BATCH = 256

export type Role = 'master' | 'backup' | 'fault'

export interface HookRun {
  event: HookEvent
  command: string[]
  exitCode: number | null
  timedOut: boolean
  error?: string
  /** How many events this run stood for (> 1 when coalesced). */
  coalesced: number
  durationMs: number
  at: string
}

interface MemberChange {
  member: { id: string; peer: string; addrs: string[]; state: string; incarnation: number; tags?: Record<string, string> }
  previous?: string
}

interface Pending {
  event: HookEvent
  /** The hooks configured when the event was queued (a reload changes later events only). */
  hooks: HookConfig[]
  /** When it may run (the coalescing window). */
  due: number
  /** Member events: the members, latest change of each. */
  members?: Map<string, MemberChange>
  /** Other events: the body and env of the one event. */
  body?: Record<string, unknown>
  env?: Record<string, string>
  count: number
}

export const kebab: Record<HookEvent, string> = {
  becomeMaster: 'become-master',
  stopMaster: 'stop-master',
  master: 'master',
  backup: 'backup',
  fault: 'fault',
  memberJoin: 'member-join',
  memberFail: 'member-failed',
  memberLeave: 'member-leave',
  memberUpdate: 'member-update',
}

const memberEvents = new Set<HookEvent>(['memberJoin', 'memberFail', 'memberLeave', 'memberUpdate'])
const roleEvents = new Set<HookEvent>(['master', 'backup', 'fault'])

export interface HookRunnerOptions {
  /** Counts runs by event and exit code (conclave_hook_runs_total) and drops. */
  metrics?: Registry
  /** This node's role right now; enables the master/backup/fault hooks. */
  role?: () => { isMaster: boolean; hasQuorum: boolean }
  /** The member list right now; enables memberUpdate (tags or addresses changed). */
  members?: () => Member[]
  coalesceMs?: number
  /** Clock for the coalescing window (tests). */
  now?: () => number
}

export class HookRunner {
  private readonly queue: Pending[] = []
  private running = false
  private stopped = false
  private dropped = 0
  readonly recent: HookRun[] = []
  private idle: Array<() => void> = []
  private wake: NodeJS.Timeout | null = null
  private timer: NodeJS.Timeout | null = null
  /** Last role computed, and last role a hook was run for. */
  private role: Role | null = null
  private deliveredRole: Role | null = null
  /** Tags and addresses of each member last seen, for memberUpdate. */
  private readonly seen = new Map<string, string>()
  private coalesceMs: number
  private readonly now: () => number
  private readonly runs?: Counter<'event' | 'exit_code'>
  private readonly drops?: Counter<'event'>

  constructor(
    private on: OnConfig,
    private readonly nodeId: string,
    private readonly log: Logger,
    private readonly masterTerm: () => number | undefined,
    private readonly onRun?: (r: HookRun) => void,
    private readonly options: HookRunnerOptions = {},
  ) {
    this.coalesceMs = options.coalesceMs ?? on.coalesceMs ?? DEFAULT_COALESCE_MS
    this.now = options.now ?? (() => performance.now())
    if (options.metrics) {
      const reg = options.metrics
      this.runs = (reg.getSingleMetric('conclave_hook_runs_total') as Counter<'event' | 'exit_code'> | undefined) ??
        new Counter({ name: 'conclave_hook_runs_total', help: 'Hook runs by event and exit code ("timeout", "spawn-error" when there is none)', labelNames: ['event', 'exit_code'], registers: [reg] })
      this.drops = (reg.getSingleMetric('conclave_hook_dropped_total') as Counter<'event'> | undefined) ??
        new Counter({ name: 'conclave_hook_dropped_total', help: 'Hook runs dropped because the hook queue was full', labelNames: ['event'], registers: [reg] })
    }
    this.startChecks()
  }

  /** SIGHUP: new hooks apply to events from now on; queued runs keep the hooks they were queued with. */
  reconfigure(on: OnConfig): void {
    this.on = on
    this.coalesceMs = this.options.coalesceMs ?? on.coalesceMs ?? DEFAULT_COALESCE_MS
    // A role reached while it had no hook was never delivered: the next check reports it to the new hooks.
    this.role = this.deliveredRole
    this.startChecks()
  }

  /** The periodic role / member check runs only while some role or memberUpdate hook is configured. */
  private startChecks(): void {
    const { role, members } = this.options
    const needRole = role && (this.on.master?.length || this.on.backup?.length || this.on.fault?.length)
    const needMembers = members && this.on.memberUpdate?.length
    if (needMembers && this.seen.size === 0) for (const m of members()) this.seen.set(m.id, `${m.state} ${fingerprint(m)}`)
    if ((needRole || needMembers) && !this.timer && !this.stopped) {
      this.timer = setInterval(() => this.check(), ROLE_CHECK_MS)
      this.timer.unref()
    }
  }

  /** Map a core event to the hooks it fires. */
  observe(e: CoreEvent): void {
    if (this.stopped) return
    if (e.type === 'became-master') this.fire('becomeMaster', { term: e.term }, { CONCLAVE_MASTER_TERM: String(e.term) })
    else if (e.type === 'stepped-down') this.fire('stopMaster', { term: e.term, reason: e.reason }, { CONCLAVE_MASTER_TERM: String(e.term), CONCLAVE_REASON: e.reason })
    else if (e.type === 'member-joined') {
      if (e.member.id !== this.nodeId) this.member('memberJoin', e.member)
    } else if (e.type === 'member-state') {
      if (e.member.id !== this.nodeId) {
        if (e.member.state === 'dead') this.member('memberFail', e.member, e.previous)
        else if (e.member.state === 'left') this.member('memberLeave', e.member, e.previous)
        else if (e.member.state === 'alive' && (e.previous === 'dead' || e.previous === 'left')) this.member('memberJoin', e.member, e.previous)
      }
    } else if (e.type === 'member-removed') this.seen.delete(e.id)
    // Probes come several times a second and change no role; the periodic check covers what events do not say.
    if (e.type !== 'probe') this.check()
  }

  /** Role transitions and member updates are derived from state, not from one event: look now. */
  private check(): void {
    if (this.stopped) return
    if (this.options.role) {
      const r = this.options.role()
      const role: Role = r.isMaster ? 'master' : r.hasQuorum ? 'backup' : 'fault'
      if (role !== this.role) {
        const previous = this.role
        this.role = role
        this.transition(role, previous)
      }
    }
    if (this.options.members && this.on.memberUpdate?.length) {
      for (const m of this.options.members()) {
        if (m.id === this.nodeId) continue
        // An update is a change while alive; coming back with new addresses is a join, not an update.
        const fp = `${m.state} ${fingerprint(m)}`
        const before = this.seen.get(m.id)
        this.seen.set(m.id, fp)
        if (before !== undefined && before !== fp && m.state === 'alive' && before.startsWith('alive ')) this.member('memberUpdate', m)
      }
    }
  }

  private transition(role: Role, previous: Role | null): void {
    // The newest role replaces a role hook still waiting at the tail: only the latest role matters.
    // (Entries in the queue are waiting; the one running was already taken off it.)
    const tail = this.queue.at(-1)
    if (tail && roleEvents.has(tail.event)) this.queue.pop()
    if (role === this.deliveredRole) return this.schedule()
    if (!this.on[role]?.length) return
    const term = this.masterTerm()
    this.push({
      event: role,
      hooks: this.on[role]!,
      due: this.now() + this.coalesceMs,
      body: { role, previous, term: term ?? null },
      env: { CONCLAVE_ROLE: role, CONCLAVE_PREVIOUS_ROLE: previous ?? '' },
      count: 1,
    })
  }

  private member(event: HookEvent, m: Member, previous?: string): void {
    if (!this.on[event]?.length) return
    const change: MemberChange = { member: memberJson(m), ...(previous ? { previous } : {}) }
    const tail = this.queue.at(-1)
    // Same kind as the last waiting run: join it (the latest change of each member wins).
    if (tail && tail.event === event && tail.members && tail.members.size < MAX_BATCH) {
      tail.members.delete(m.id)
      tail.members.set(m.id, change)
      tail.count++
      return
    }
    this.push({ event, hooks: this.on[event]!, due: this.now() + this.coalesceMs, members: new Map([[m.id, change]]), count: 1 })
  }

  private fire(event: HookEvent, body: Record<string, unknown>, env: Record<string, string>): void {
    if (!this.on[event]?.length) return
    // Lease edges run at once: a VIP script should not wait for a window.
    this.push({ event, hooks: this.on[event]!, due: this.now(), body, env, count: 1 })
  }

  private push(p: Pending): void {
    if (this.stopped) return
    if (this.queue.length >= MAX_PENDING) {
      this.dropped++
      this.drops?.inc({ event: p.event })
      this.log.warn({ hook: p.event, dropped: this.dropped }, `hook queue full, ${p.event} dropped`)
      return
    }
    this.queue.push(p)
    this.schedule()
  }

  private schedule(): void {
    if (this.running || this.stopped) return
    const head = this.queue[0]
    if (!head) {
      for (const w of this.idle.splice(0)) w()
      return
    }
    const wait = head.due - this.now()
    if (wait > 0) {
      if (this.wake) clearTimeout(this.wake)
      this.wake = setTimeout(() => {
        this.wake = null
        this.schedule()
      }, wait)
      return
    }
    void this.drain()
  }

  private async drain(): Promise<void> {
    this.running = true
    try {
      while (!this.stopped && this.queue.length > 0 && this.queue[0].due <= this.now()) {
        const p = this.queue.shift()!
        if (roleEvents.has(p.event)) {
          // A role that is no longer current (it flipped back while waiting) is not worth a run.
          if (p.event !== this.role || p.event === this.deliveredRole) continue
          this.deliveredRole = p.event
        }
        const { body, env } = this.render(p)
        for (const h of p.hooks) await this.runOne(p, h, body, env)
      }
    } finally {
      this.running = false
      this.schedule()
    }
  }

  private render(p: Pending): { body: unknown; env: Record<string, string> } {
    const term = this.masterTerm()
    const env: Record<string, string> = {
      CONCLAVE_EVENT: kebab[p.event],
      CONCLAVE_NODE_ID: this.nodeId,
      CONCLAVE_MASTER_TERM: term === undefined ? '' : String(term),
      CONCLAVE_COALESCED: String(p.count),
    }
    if (!p.members) return { body: { event: kebab[p.event], node: this.nodeId, ...p.body }, env: { ...env, ...p.env } }
    const changes = [...p.members.values()]
    const last = changes.at(-1)!
    Object.assign(env, {
      CONCLAVE_MEMBERS: changes.map((c) => c.member.id).join(' '),
      CONCLAVE_MEMBER_ID: last.member.id,
      CONCLAVE_MEMBER_STATE: last.member.state,
      CONCLAVE_MEMBER_ADDRS: last.member.addrs.join(' '),
      CONCLAVE_MEMBER_PEER: last.member.peer,
      CONCLAVE_MEMBER_PREVIOUS_STATE: last.previous ?? '',
      CONCLAVE_MEMBER_TAGS: Object.entries(last.member.tags ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    })
    // `member` (the last change) keeps single-event scripts simple; `members` lists every coalesced change.
    return { body: { event: kebab[p.event], node: this.nodeId, ...last, members: changes }, env }
  }

  private async runOne(p: Pending, h: HookConfig, body: unknown, env: Record<string, string>): Promise<void> {
    const started = this.now()
    const r = await runCommand(h.command, {
      stdin: JSON.stringify(body),
      env: { ...(process.env as Record<string, string>), ...h.env, ...env },
      cwd: h.cwd,
      timeoutMs: h.timeoutMs,
      killGraceMs: hookDefaults.killGraceMs,
      maxOutputBytes: 64 * 1024,
    })
    const durationMs = Math.round(this.now() - started)
    const run: HookRun = { event: p.event, command: h.command, exitCode: r.exitCode, timedOut: r.timedOut, error: r.spawnError, coalesced: p.count, durationMs, at: new Date().toISOString() }
    this.recent.push(run)
    if (this.recent.length > 50) this.recent.shift()
    this.onRun?.(run)
    this.runs?.inc({ event: p.event, exit_code: r.spawnError ? 'spawn-error' : r.timedOut ? 'timeout' : String(r.exitCode ?? 'signal') })
    const ok = !r.spawnError && !r.timedOut && r.exitCode === 0
    const fields = { hook: p.event, command: h.command, exitCode: r.exitCode, timedOut: r.timedOut, coalesced: p.count > 1 ? p.count : undefined, durationMs, stderr: r.stderrTail.slice(-500) || undefined }
    if (ok) this.log.info(fields, `hook ${p.event} ran`)
    else if (r.spawnError) this.log.warn(fields, `hook ${p.event} could not start: ${r.spawnError}`)
    else if (r.timedOut) this.log.warn(fields, `hook ${p.event} timed out after ${h.timeoutMs} ms and was killed`)
    else this.log.warn(fields, `hook ${p.event} exited with code ${r.exitCode}`)
  }

  /** Resolves once every queued hook has run (bounded by the caller). */
  whenIdle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve()
    return new Promise((r) => this.idle.push(r))
  }

  stop(): void {
    this.stopped = true
    this.queue.length = 0
    if (this.timer) clearInterval(this.timer)
    if (this.wake) clearTimeout(this.wake)
    for (const w of this.idle.splice(0)) w()
  }
}

function memberJson(m: Member): MemberChange['member'] {
  const tags = (m as Member & { tags?: Record<string, string> }).tags
  return { id: m.id, peer: m.peer, addrs: m.addrs, state: m.state, incarnation: m.incarnation, ...(tags ? { tags } : {}) }
}

/** What memberUpdate watches: tags (once the core gossips them) and addresses. */
function fingerprint(m: Member): string {
  const tags = (m as Member & { tags?: Record<string, string> }).tags ?? {}
  return JSON.stringify([Object.entries(tags).sort(), [...m.addrs].sort()])
}
