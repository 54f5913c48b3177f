// Event hooks (the `on` config section), as keepalived's notify_master/notify_backup and Serf's event handlers:
// a command runs when this node becomes master, stops being master, or a member joins, fails or leaves.
// Hooks run one at a time in event order (a stopMaster never overtakes the becomeMaster before it), each with a
// timeout, the event in the environment and as JSON on stdin.
import type { Logger } from 'pino'
import type { CoreEvent, Member } from '../core/types.ts'
import type { HookConfig, HookEvent, OnConfig } from './config.ts'
import { hookDefaults } from './config.ts'
import { runCommand } from './executor.ts'

const MAX_PENDING = 1000

export interface HookRun {
  event: HookEvent
  command: string[]
  exitCode: number | null
  timedOut: boolean
  error?: string
  at: string
}

interface Pending {
  event: HookEvent
  env: Record<string, string>
  body: unknown
}

const kebab: Record<HookEvent, string> = {
  becomeMaster: 'become-master',
  stopMaster: 'stop-master',
  memberJoin: 'member-join',
  memberFail: 'member-fail',
  memberLeave: 'member-leave',
}

export class HookRunner {
  private readonly queue: Pending[] = []
  private running = false
  private stopped = false
  private dropped = 0
  readonly recent: HookRun[] = []
  private idle: Array<() => void> = []

  constructor(
    private on: OnConfig,
    private readonly nodeId: string,
    private readonly log: Logger,
    private readonly masterTerm: () => number | undefined,
    private readonly onRun?: (r: HookRun) => void,
  ) {}

  /** Map a core event to the hooks it fires. */
  observe(e: CoreEvent): void {
    if (e.type === 'became-master') this.fire('becomeMaster', { term: e.term }, { CONCLAVE_MASTER_TERM: String(e.term) })
    else if (e.type === 'stepped-down') this.fire('stopMaster', { term: e.term, reason: e.reason }, { CONCLAVE_MASTER_TERM: String(e.term), CONCLAVE_REASON: e.reason })
    else if (e.type === 'member-joined') {
      if (e.member.id !== this.nodeId) this.fire('memberJoin', member(e.member), memberEnv(e.member))
    } else if (e.type === 'member-state') {
      if (e.member.id === this.nodeId) return
      const env = { ...memberEnv(e.member), CONCLAVE_MEMBER_PREVIOUS_STATE: e.previous }
      const body = { ...member(e.member), previous: e.previous }
      if (e.member.state === 'dead') this.fire('memberFail', body, env)
      else if (e.member.state === 'left') this.fire('memberLeave', body, env)
      else if (e.member.state === 'alive' && (e.previous === 'dead' || e.previous === 'left')) this.fire('memberJoin', body, env)
    }
  }
  /** SIGHUP: new hooks apply to events from now on; queued runs keep the hooks they were queued with. */
  reconfigure(on: OnConfig): void {
    this.on = on
  }


  private fire(event: HookEvent, body: unknown, env: Record<string, string>): void {
    if (this.stopped || !this.on[event]?.length) return
    if (this.queue.length >= MAX_PENDING) {
      this.dropped++
      this.log.warn({ hook: event, dropped: this.dropped }, `hook queue full, ${event} dropped`)
      return
    }
    const term = this.masterTerm()
    this.queue.push({
      event,
      body: { event: kebab[event], node: this.nodeId, ...(body as object) },
      env: { CONCLAVE_EVENT: kebab[event], CONCLAVE_NODE_ID: this.nodeId, CONCLAVE_MASTER_TERM: term === undefined ? '' : String(term), ...env },
    })
    void this.drain()
  }

  private async drain(): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      while (!this.stopped && this.queue.length > 0) {
        const p = this.queue.shift()!
        for (const h of this.on[p.event] ?? []) await this.runOne(p, h)
      }
    } finally {
      this.running = false
      for (const w of this.idle.splice(0)) w()
    }
  }

  private async runOne(p: Pending, h: HookConfig): Promise<void> {
    const r = await runCommand(h.command, {
      stdin: JSON.stringify(p.body),
      env: { ...(process.env as Record<string, string>), ...h.env, ...p.env },
      cwd: h.cwd,
      timeoutMs: h.timeoutMs,
      killGraceMs: hookDefaults.killGraceMs,
      maxOutputBytes: 64 * 1024,
    })
    const run: HookRun = { event: p.event, command: h.command, exitCode: r.exitCode, timedOut: r.timedOut, error: r.spawnError, at: new Date().toISOString() }
    this.recent.push(run)
    if (this.recent.length > 50) this.recent.shift()
    this.onRun?.(run)
    const ok = !r.spawnError && !r.timedOut && r.exitCode === 0
    const fields = { hook: p.event, command: h.command, exitCode: r.exitCode, timedOut: r.timedOut, stderr: r.stderrTail.slice(-500) || undefined }
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
  }
}

function member(m: Member) {
  return { member: { id: m.id, peer: m.peer, addrs: m.addrs, state: m.state, incarnation: m.incarnation } }
}

function memberEnv(m: Member): Record<string, string> {
  return { CONCLAVE_MEMBER_ID: m.id, CONCLAVE_MEMBER_STATE: m.state, CONCLAVE_MEMBER_ADDRS: m.addrs.join(' '), CONCLAVE_MEMBER_PEER: m.peer }
}
