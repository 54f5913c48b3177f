// The task service: every agent is its own allocator. It routes each submitted task with the pure decision in
// src/core/routing.ts, runs it here or forwards it to the master over /conclave/task/1.0.0, follows redirects,
// retries on the new master through failover until the deadline, journals everything, and gossips its load.
import { randomUUID } from 'node:crypto'
import { Counter, Histogram, type Registry } from 'prom-client'
import type { Agent } from '../agent/types.ts'
import { masterOnlyStartRefusal, routeReceive, type PlacementCandidate } from '../core/routing.ts'
import { Submission } from '../core/submit.ts'
import { parseTaskOptions, taskTypeName, type OnConfig, type TaskOptions, type TaskTypeConfig } from './config.ts'
import { readBootId, startTicksOf } from '../agent/datadir-lock.ts'
import { Executor, groupAlive, killGroup, type TaskDefinition, type TypeLoad } from './executor.ts'
import { HookRunner } from './hooks.ts'
import { Journal, type StoredRecord } from './journal.ts'
import { isFailure, type ModuleHandler, type TaskFailure, type TaskOutcome, type TaskRecord } from './types.ts'
import {
  decodeForward,
  decodeLoad,
  decodeReply,
  encodeForward,
  encodeLoad,
  encodeReply,
  LOAD_TOPIC,
  MAX_JSON_DEPTH,
  nestsDeeperThan,
  TASK_PROTOCOL,
  type ForwardReply,
  type LoadReport,
} from './wire.ts'

export interface SubmitOptions {
  /** Task id; retrying with the same id is idempotent on every node that already finished it. Default: a random UUID. */
  id?: string
  /** Deadline for the whole submit (routing, waiting for a master, failover retries, the run). Default: the type's timeoutMs + 30 s. */
  timeoutMs?: number
  /** Run on one live member with these tags, chosen by load (tasks that are not masterOnly). Not kept across a restart of this agent. */
  where?: Record<string, string>
  /** Who submits (HTTP: the remote address), for the per-client in-flight bound. Default: "local". */
  client?: string
  /**
   * Aborted when the submitter stops waiting (an HTTP client disconnected). A task not started yet then ends
   * `interrupted` (not terminal: the id can be submitted again); a started one runs on and is journaled.
   */
  signal?: AbortSignal
}

/** Bounds of the task service (defaults and reasons: docs/limits.md). */
export const taskServiceLimits = {
  /** Unfinished tasks on this agent (submitted here and received from peers). */
  maxInflight: 1_000,
  /** Unfinished tasks submitted by one client (one HTTP remote address, or one peer forwarding to this master). */
  maxInflightPerClient: 200,
}
export type TaskServiceLimits = typeof taskServiceLimits

export interface TaskServiceOptions {
  types: Record<string, TaskTypeConfig>
  on: OnConfig
  /** Finished tasks kept in the journal. */
  keepFinished?: number
  loadIntervalMs?: number
  limits?: Partial<TaskServiceLimits>
}

/** Extra deadline beyond the run timeout, so a submit rides out a master failover by default. */
const FAILOVER_SLACK_MS = 30_000
const MAX_DEADLINE_MS = 24 * 3600_000
/**
 * An unchanged load is re-published every LOAD_HEARTBEAT_MS, a backstop only: a change goes out within a second, and
 * so does the load to a peer that newly subscribed (a joiner, a restarted peer, a reconnect). Each publish costs about
 * N x D gossipsub frames: at 15 s that was a third of an idle agent's wire bytes at 10 agents, at 60 s still ~200 B/s
 * of the ~1,250 (a 60 s idle window, docs/bench-runtime.md), at 300 s ~40 B/s. A load is a placement hint, never a
 * decision, so a lost change costs at most a worse placement until the next heartbeat. A report counts as fresh for
 * 2.5 heartbeats, so one lost heartbeat does not blank it.
 */
const LOAD_HEARTBEAT_MS = 300_000
const LOAD_STALE_MS = 750_000

const idSchema = taskTypeName

/** A failure that did not come from running a handler: the id may be submitted again and run. */
function isTerminal(o: TaskOutcome): boolean {
  if (!isFailure(o)) return true
  if (o.error === 'handler-failed') return true
  // A timeout produced by an executor (it ran and was killed) is terminal; a submitter's deadline is not.
  return o.error === 'timeout' && o.durationMs !== undefined
}

export class TaskError extends Error {
  constructor(readonly failure: TaskFailure) {
    super(failure.detail)
    this.name = 'TaskError'
  }
}

export class TaskService {
  readonly executor: Executor
  private journal!: Journal
  private agent!: Agent
  private hooks!: HookRunner
  private readonly inflight = new Map<string, { type: string; client: string; promise: Promise<TaskOutcome> }>()
  private readonly inflightByClient = new Map<string, number>()
  private readonly inflightByType = new Map<string, number>()
  private readonly limits: TaskServiceLimits
  private readonly loads = new Map<string, { report: LoadReport; at: number }>()
  private readonly masterWaiters = new Set<() => void>()
  private readonly stopAborts = new Set<() => void>()
  private readonly timers: NodeJS.Timeout[] = []
  private unsubscribe: (() => void) | null = null
  private loadSeq = 0
  private stopped = false
  private started = false
  private metrics!: {
    submitted: Counter<'type'>
    finished: Counter<'type' | 'outcome'>
    forwarded: Counter<'type' | 'result'>
    received: Counter<'decision'>
    duration: Histogram<'type' | 'where'>
    refused: Counter<'limit'>
  }

  constructor(
    private readonly nodeId: string,
    private readonly opts: TaskServiceOptions,
  ) {
    this.limits = { ...taskServiceLimits, ...opts.limits }
    this.executor = new Executor(nodeId)
    for (const [name, t] of Object.entries(opts.types)) {
      const { command, cwd, env, ...options } = t
      this.executor.define(name, { options, command: { argv: command, cwd, env } })
    }
  }

  /** SIGHUP: define the re-read task types (replacing those of the same name) and use the new hooks. */
  reconfigure(opts: Pick<TaskServiceOptions, 'types' | 'on'>): void {
    for (const [name, t] of Object.entries(opts.types)) {
      const { command, cwd, env, ...options } = t
      this.executor.define(name, { options, command: { argv: command, cwd, env } })
    }
    this.opts.types = opts.types
    this.opts.on = opts.on
    this.hooks?.reconfigure(opts.on)
  }

  /** Register an in-process handler (library API). Replaces a type of the same name. */
  handle(type: string, options: Partial<TaskOptions>, fn: ModuleHandler): void {
    const parsed = parseTaskOptions(type, options)
    const def: TaskDefinition = { options: parsed, handler: fn }
    this.executor.define(type, def)
  }

  /**
   * Open and check the journal. Throws JournalError on a damaged one: the agent then stops with exit code 2 and the
   * error's one line. The agent calls it before it opens any port (plugin prepare); start() opens it if nobody did.
   */
  open(dataDir: string): void {
    if (!this.journal) this.journal = new Journal(dataDir, { keepFinished: this.opts.keepFinished })
  }

  async start(agent: Agent): Promise<void> {
    this.agent = agent
    this.open(agent.dataDir)
    this.metrics = registerMetrics(agent.metrics)
    this.hooks = new HookRunner(this.opts.on, this.nodeId, agent.logger.child({ part: 'hooks' }), () => agent.master()?.term, undefined, {
      metrics: agent.metrics,
      role: () => ({ isMaster: agent.isMaster(), hasQuorum: agent.coreStatus().quorum.has }),
      members: () => agent.coreStatus().members,
    })
    agent.events.on('event', (e) => this.hooks.observe(e))
    agent.events.on('master', () => this.wakeWaiters())
    agent.events.on('event', (e) => {
      if (e.type === 'stepped-down') {
        // The lease holder stops acting before its lease runs out anywhere else (see the core's fence margin).
        const n = this.executor.fenceMasterOnly(`stopped being master (term ${e.term}: ${e.reason})`)
        if (n > 0) agent.logger.warn({ event: 'fenced', term: e.term, killed: n }, `killed ${n} running masterOnly task(s): no longer master`)
      }
      if (e.type === 'became-master' || e.type === 'stepped-down') this.wakeWaiters()
    })
    await agent.net.handle(TASK_PROTOCOL, (bytes, from) => this.onForward(bytes, from))
    this.unsubscribe = agent.net.subscribe(LOAD_TOPIC, (_from, bytes) => {
      try {
        const r = decodeLoad(bytes)
        this.loads.set(r.id, { report: r, at: Date.now() })
      } catch {
        // A bad load report is dropped; it carries no decision.
      }
    })
    // Load gossip costs a signed gossipsub message per receiver: publish when the load changed or a peer newly
    // subscribed to the topic (checked every second: a joiner, a restarted peer, and the first mesh after start all
    // learn it within a second), and otherwise only every `loadIntervalMs` as a heartbeat.
    const every = this.opts.loadIntervalMs ?? LOAD_HEARTBEAT_MS
    this.timers.push(setInterval(() => void this.publishLoad(false, every), 1_000))
    this.started = true
    this.recover()
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const t of this.timers) clearInterval(t)
    this.unsubscribe?.()
    // A leave emits stopMaster just before this: give queued hooks a moment (bounded) before dropping the rest.
    if (this.hooks) await Promise.race([this.hooks.whenIdle(), new Promise((r) => setTimeout(r, 1_000))])
    this.hooks?.stop()
    this.wakeWaiters()
    for (const a of [...this.stopAborts]) a()
    await this.executor.stop()
    // Let the submit loops end before the journal closes. They record no outcome for what the stop cut short:
    // queued tasks stay queued, running ones stay running, and the restart rule (recover()) decides.
    const pending = [...this.inflight.values()].map((f) => f.promise)
    await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, 2_000))])
    this.journal?.close()
  }

  get isStarted(): boolean {
    return this.started && !this.stopped
  }

  knownTypes(): Record<string, { masterOnly: boolean; kind: 'command' | 'module'; timeoutMs: number }> {
    const out: Record<string, { masterOnly: boolean; kind: 'command' | 'module'; timeoutMs: number }> = {}
    for (const name of this.executor.typeNames()) {
      const d = this.executor.definition(name)!
      out[name] = { masterOnly: d.options.masterOnly, kind: d.command ? 'command' : 'module', timeoutMs: d.options.timeoutMs }
    }
    return out
  }

  /** Submit and wait for the one outcome. Never rejects: errors are outcomes that name their cause. */
  async submit(type: string, payload: unknown, opts: SubmitOptions = {}): Promise<TaskOutcome> {
    const r = this.accept(type, payload, opts, false)
    return 'outcome' in r ? r.outcome : r.promise
  }

  /**
   * Submit without waiting for the outcome: resolves once the task is on disk (fsynced: the 202 may leave);
   * the outcome is in the journal later.
   */
  async submitAsync(type: string, payload: unknown, opts: SubmitOptions = {}): Promise<{ id: string } | { outcome: TaskFailure }> {
    const r = this.accept(type, payload, opts, true)
    if ('outcome' in r) {
      // A stored outcome for a reused id is a valid answer to an async submit too: the id exists.
      return isFailure(r.outcome) && !r.stored ? { outcome: r.outcome } : { id: r.id }
    }
    r.promise.catch(() => {})
    try {
      await this.journal.durable()
    } catch (e) {
      return { outcome: this.fail(r.id, type, 'interrupted', `task ${r.id} could not be written to the journal of ${this.nodeId}: ${(e as Error).message}`) }
    }
    return { id: r.id }
  }

  get(id: string): StoredRecord | undefined {
    return this.journal.get(id)
  }

  list(limit = 100): { running: TaskRecord[]; recent: TaskRecord[] } {
    const recent = this.journal.recent(limit)
    return { running: recent.filter((r) => r.finishedAt === null), recent: recent.filter((r) => r.finishedAt !== null) }
  }

  /** Load of this agent and what every member last gossiped (plugin status: GET /v1/plugins). */
  status(): Record<string, unknown> {
    if (!this.isStarted) return { started: false }
    const self = this.localLoad()
    const members = this.agent.status().members.map((m) => {
      if (m.id === this.nodeId) return { id: m.id, state: m.state, load: self }
      const l = this.loads.get(m.id)
      const fresh = l && Date.now() - l.at < LOAD_STALE_MS
      return { id: m.id, state: m.state, load: l ? { ...strip(l.report), ageMs: Date.now() - l.at, stale: !fresh } : null }
    })
    return { types: this.knownTypes(), load: self, members, journal: this.journal.counts(), inflight: this.inflight.size, hooks: this.hooks.recent.slice(-10) }
  }

  localLoad(): Omit<LoadReport, 'id' | 'seq'> {
    const types = this.executor.load()
    let running = 0
    let queued = 0
    let capacity = 0
    for (const t of Object.values(types)) {
      running += t.running
      queued += t.queued
      capacity += t.concurrency
    }
    return { running, queued, capacity, types }
  }

  // ---- submit side ------------------------------------------------------------------------------------------

  private fail(id: string, type: string, error: TaskFailure['error'], detail: string, extra: Partial<TaskFailure> = {}): TaskFailure {
    return { id, type, error, detail, ...extra }
  }

  private accept(
    type: string,
    payload: unknown,
    opts: SubmitOptions,
    async: boolean,
  ): { id: string; promise: Promise<TaskOutcome> } | { id: string; outcome: TaskOutcome; stored: boolean } {
    const id = opts.id ?? randomUUID()
    const bad = (error: TaskFailure['error'], detail: string) => ({ id, outcome: this.fail(id, type, error, detail), stored: false })
    if (!this.isStarted) return bad('interrupted', `agent ${this.nodeId} is not running`)
    if (typeof type !== 'string' || type.length === 0) return bad('bad-request', 'type must be a non-empty string')
    if (!idSchema.safeParse(id).success) return bad('bad-request', `task id "${id}" must be 1-128 characters of letters, digits and . _ : -`)
    const def = this.executor.definition(type)
    if (!def) return bad('unknown-type', `unknown task type "${type}" on ${this.nodeId} (known: ${this.executor.typeNames().join(', ') || 'none'})`)
    // Before stringifying it: a payload nested a million deep would overflow the stack there.
    if (nestsDeeperThan(payload, MAX_JSON_DEPTH - 1)) return bad('bad-request', `payload nests deeper than ${MAX_JSON_DEPTH - 1} levels`)
    const body = JSON.stringify(payload ?? null)
    if (body === undefined) return bad('bad-request', 'payload must be JSON')
    const size = Buffer.byteLength(body)
    if (size > def.options.maxPayloadBytes) {
      return bad('payload-too-large', `payload of ${size} bytes exceeds maxPayloadBytes ${def.options.maxPayloadBytes} of task type "${type}"`)
    }
    const where = opts.where && Object.keys(opts.where).length > 0 ? opts.where : undefined
    if (where && def.options.masterOnly) return bad('bad-request', `task type "${type}" is masterOnly: it runs on the master, where cannot place it`)
    const timeoutMs = opts.timeoutMs ?? def.options.timeoutMs + FAILOVER_SLACK_MS
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_DEADLINE_MS) {
      return bad('bad-request', `timeoutMs must be a positive integer of at most ${MAX_DEADLINE_MS}`)
    }
    // Idempotence: a running id is joined, a finished one returns its stored outcome.
    const running = this.inflight.get(id)
    if (running) {
      if (running.type !== type) return bad('id-conflict', `task id "${id}" is in use by a task of type "${running.type}"`)
      return { id, promise: running.promise }
    }
    const prev = this.journal.get(id)
    if (prev && prev.type !== type) return bad('id-conflict', `task id "${id}" was used for a task of type "${prev.type}"`)
    if (prev?.terminal && prev.outcome) return { id, outcome: prev.outcome, stored: true }
    const client = opts.client ?? 'local'
    const refusal = this.overLimit(type, client, def.options)
    if (refusal) return bad('queue-full', refusal)
    this.metrics.submitted.inc({ type })
    const attempt = prev ? prev.attempt + 1 : 1
    this.journal.accept({ id, type, payload: payload ?? null, state: 'queued', attempt, node: null, term: null, origin: 'submit', async, deadline: Date.now() + timeoutMs })
    const promise = this.track(id, type, client, () =>
      this.drive(id, type, payload ?? null, attempt, Date.now() + timeoutMs, def.options.masterOnly, async ? undefined : opts.signal, where),
    )
    return { id, promise }
  }

  /** Why a new task of `type` from `client` is refused now (429 queue-full), or null. Counted by limit. */
  private overLimit(type: string, client: string, options: TaskOptions): string | null {
    let limit: string | null = null
    let detail = ''
    const total = this.inflight.size
    const mine = this.inflightByClient.get(client) ?? 0
    const ofType = this.inflightByType.get(type) ?? 0
    if (total >= this.limits.maxInflight) {
      limit = 'inflight-total'
      detail = `${total} tasks are in flight on ${this.nodeId} (limit ${this.limits.maxInflight}); retry later`
    } else if (mine >= this.limits.maxInflightPerClient) {
      limit = 'inflight-client'
      detail = `client ${client} has ${mine} tasks in flight on ${this.nodeId} (limit ${this.limits.maxInflightPerClient} per client); wait for some to finish`
    } else if (!options.masterOnly && ofType >= options.concurrency + options.maxQueued) {
      // A local type runs here: beyond its slots and queue it would only fail later, after a 202.
      limit = 'type-queue'
      detail = `queue of task type "${type}" on ${this.nodeId} is full (${ofType} in flight, concurrency ${options.concurrency} + maxQueued ${options.maxQueued})`
    }
    if (limit) this.metrics.refused.inc({ limit })
    return limit ? detail : null
  }

  private track(id: string, type: string, client: string, run: () => Promise<TaskOutcome>): Promise<TaskOutcome> {
    // Exactly one outcome, even if something below throws (a journal write failing, a bug): never a rejection.
    // It is visible (to the HTTP client, the submitting agent) only once the journal has it on disk.
    const guarded = run()
      .then(async (o) => {
        if (!this.stopped) await this.journal.durable()
        return o
      })
      .catch((e: unknown) => {
        this.agent.logger.error({ task: id, err: (e as Error).message }, `task ${id} failed internally`)
        return this.fail(id, type, 'interrupted', `internal error on ${this.nodeId}: ${(e as Error).message}`)
      })
    const promise = guarded.finally(() => {
      if (this.inflight.get(id)?.promise !== promise) return
      this.inflight.delete(id)
      bump(this.inflightByClient, client, -1)
      bump(this.inflightByType, type, -1)
    })
    this.inflight.set(id, { type, client, promise })
    bump(this.inflightByClient, client, 1)
    bump(this.inflightByType, type, 1)
    return promise
  }

  /** The submitter loop: route, run or forward, follow redirects, retry on the new master until the deadline. */
  /** Members a `where` task may go to, with their tags and their last fresh load of this type. */
  private candidates(type: string): PlacementCandidate[] {
    const now = Date.now()
    return this.agent.coreStatus().members.map((m) => {
      const tags = (m as { tags?: Record<string, string> }).tags ?? (m.id === this.nodeId ? (this.agent.config.tags ?? {}) : {})
      if (m.id === this.nodeId) {
        const t = this.executor.load()[type]
        return { id: m.id, state: m.state, tags, load: t ? { running: t.running, queued: t.queued, concurrency: t.concurrency } : null, knowsType: t !== undefined }
      }
      const l = this.loads.get(m.id)
      if (!l || now - l.at >= LOAD_STALE_MS) return { id: m.id, state: m.state, tags, load: null, knowsType: null }
      const t = l.report.types[type]
      return { id: m.id, state: m.state, tags, load: t ? { running: t.running, queued: t.queued, concurrency: t.concurrency } : null, knowsType: t !== undefined }
    })
  }

  private async drive(
    id: string,
    type: string,
    payload: unknown,
    firstAttempt: number,
    deadline: number,
    masterOnly: boolean,
    signal?: AbortSignal,
    where?: Record<string, string>,
  ): Promise<TaskOutcome> {
    const started = Date.now()
    // The retry rules (attempts, redirects, failover) are the core's submit machine; this loop carries out its steps.
    const sub = new Submission(firstAttempt)
    const finish = (o: TaskOutcome): TaskOutcome => {
      // What a stop of this agent cut short keeps its unfinished state in the journal (recover() decides on restart).
      if (this.stopped && isFailure(o) && o.error === 'interrupted') return o
      const terminal = isTerminal(o)
      try {
        this.journal.finish(id, o, terminal)
      } catch (e) {
        this.agent.logger.error({ task: id, err: (e as Error).message }, 'journal write failed')
      }
      this.metrics.finished.inc({ type, outcome: isFailure(o) ? o.error : 'ok' })
      const where = isFailure(o) ? 'failed' : o.node === this.nodeId ? 'local' : 'forwarded'
      this.metrics.duration.observe({ type, where }, (Date.now() - started) / 1000)
      return o
    }
    const pause = (ms: number) => this.waitForMaster(Math.min(ms, deadline - Date.now()))
    const onAbort = () => this.wakeWaiters()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      for (;;) {
        if (this.stopped) return finish(this.fail(id, type, 'interrupted', `agent ${this.nodeId} stopped before the task finished`, { attempt: sub.attempt }))
        if (signal?.aborted) {
          const sent = sub.lastTarget ? `; it was sent to ${sub.lastTarget}, whose journal has its outcome if it ran` : ''
          return finish(this.fail(id, type, 'interrupted', `the client went away before task ${id} finished on ${this.nodeId}${sent}`, { attempt: sub.attempt }))
        }
        const status = this.agent.coreStatus()
        const step = sub.next(
          {
            masterOnly,
            self: this.nodeId,
            master: this.agent.master(),
            isMaster: this.agent.isMaster(),
            quorum: status.quorum,
            deadline,
            now: Date.now(),
            where,
            candidates: where ? this.candidates(type) : undefined,
          },
          this.agent.master()?.term,
        )
        if (step.kind === 'fail') {
          if (step.error === 'timeout') {
            const sent = step.lastTarget ? `; it was last sent to ${step.lastTarget} (attempt ${step.attempt})` : ''
            return finish(this.fail(id, type, 'timeout', `task ${id} timed out after ${deadline - started} ms${sent}`, { attempt: step.attempt, node: step.lastTarget ?? undefined }))
          }
          return finish(this.fail(id, type, step.error, `${step.reason} (waited ${deadline - started} ms)`, { attempt: step.attempt }))
        }
        if (step.kind === 'wait') {
          await pause(step.ms)
          continue
        }
        if (step.kind === 'run-local') {
          const { attempt, term } = step
          // 'running' only once it leaves the executor's queue: a stop keeps a task that never started 'queued'.
          // A masterOnly task that lands here because this node became master may be forwarded here too: one run.
          const o = await this.executor.run({
            id,
            type,
            payload,
            attempt,
            term,
            signal,
            onStart: () => this.journal.progress(id, 'running', attempt, this.nodeId, term ?? null),
            onSpawn: (pgid) => this.journal.recordGroup(id, groupOf(pgid)),
            mayStart: masterOnly ? this.stillMaster(id, term) : undefined,
          })
          // Killed because this node lost the master role mid-run: retry on the next master, like a lost forward.
          if (masterOnly && isFailure(o) && o.error === 'interrupted' && !this.stopped) {
            await pause(sub.fenced(this.nodeId, term))
            continue
          }
          return finish(o)
        }
        // forward
        const { to: target, attempt } = step
        const member = this.agent.member(target)
        if (!member || member.state === 'dead' || member.state === 'left') {
          await pause(sub.targetGone())
          continue
        }
        this.journal.progress(id, 'forwarded', attempt, target, step.term ?? null)
        const reply = await this.forward(member.peer, member.addrs, target, { id, type, payload, attempt, remainingMs: Math.max(0, deadline - Date.now()), from: this.nodeId }, deadline, signal)
        if (reply.kind === 'outcome') {
          const o = reply.outcome
          // The master was stopping or its queue rejected it: not this task's fault, try again (maybe elsewhere).
          if (isFailure(o) && o.error === 'interrupted') {
            this.metrics.forwarded.inc({ type, result: 'interrupted' })
            await pause(sub.interrupted(target))
            continue
          }
          this.metrics.forwarded.inc({ type, result: isFailure(o) ? 'error' : 'ok' })
          return finish(o)
        }
        if (reply.kind === 'redirect') {
          this.metrics.forwarded.inc({ type, result: 'redirect' })
          await pause(sub.redirected(reply.master))
          continue
        }
        // Connection lost, master died, timed out or the master changed under us: same id, next attempt.
        this.metrics.forwarded.inc({ type, result: 'lost' })
        this.agent.logger.info({ task: id, type, target, attempt, err: reply.error }, `forward of task ${id} to ${target} failed, retrying`)
        await pause(sub.lostForward(target, step.term))
      }
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  private async forward(
    peer: string,
    addrs: string[],
    target: string,
    req: Parameters<typeof encodeForward>[0],
    deadline: number,
    clientSignal?: AbortSignal,
  ): Promise<ForwardReply | { kind: 'lost'; error: string }> {
    const ac = new AbortController()
    const onClientGone = () => ac.abort(new Error('the client went away'))
    clientSignal?.addEventListener('abort', onClientGone, { once: true })
    // If this node comes to recognise a different master, the old one is gone or cut off: stop waiting for it.
    const onMaster = () => {
      const m = this.agent.master()
      if (m && m.id !== target) ac.abort(new Error(`master changed to ${m.id}`))
    }
    this.agent.events.on('master', onMaster)
    const onStop = () => ac.abort(new Error('agent stopping'))
    this.stopAborts.add(onStop)
    try {
      const bytes = await this.agent.net.request(peer, addrs, TASK_PROTOCOL, encodeForward(req), {
        timeoutMs: Math.max(1, deadline - Date.now()),
        signal: ac.signal,
      })
      return decodeReply(bytes)
    } catch (e) {
      return { kind: 'lost', error: (e as Error).message }
    } finally {
      this.agent.events.off('master', onMaster)
      this.stopAborts.delete(onStop)
      clientSignal?.removeEventListener('abort', onClientGone)
    }
  }

  private waitForMaster(ms: number): Promise<void> {
    if (!(ms > 0) || this.stopped) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t)
        this.masterWaiters.delete(done)
        resolve()
      }
      const t = setTimeout(done, ms)
      this.masterWaiters.add(done)
    })
  }

  private wakeWaiters(): void {
    for (const w of [...this.masterWaiters]) w()
  }

  // ---- receive side ------------------------------------------------------------------------------------------

  private async onForward(bytes: Uint8Array, fromPeer: string): Promise<Uint8Array> {
    let req: ReturnType<typeof decodeForward>
    try {
      req = decodeForward(bytes)
    } catch (e) {
      this.agent.logger.warn({ peer: fromPeer, err: (e as Error).message }, 'bad task request dropped')
      throw new Error('bad task request')
    }
    const reply = await this.receive(req, fromPeer)
    return encodeReply(reply)
  }

  private async receive(req: ReturnType<typeof decodeForward>, fromPeer: string): Promise<ForwardReply> {
    if (this.stopped) return { kind: 'outcome', outcome: this.fail(req.id, req.type, 'interrupted', `agent ${this.nodeId} is stopping`) }
    const def = this.executor.definition(req.type)
    const prev = this.journal.get(req.id)
    const inflight = this.inflight.get(req.id)
    const usedBy = inflight?.type ?? prev?.type
    if (usedBy !== undefined && usedBy !== req.type) {
      return { kind: 'outcome', outcome: this.fail(req.id, req.type, 'id-conflict', `task id "${req.id}" was used for a task of type "${usedBy}" on ${this.nodeId}`) }
    }
    const d = routeReceive({
      masterOnly: def?.options.masterOnly ?? true,
      known: def !== undefined,
      self: this.nodeId,
      master: this.agent.master(),
      isMaster: this.agent.isMaster(),
      finished: prev?.terminal === true && prev.outcome !== null,
      inProgress: inflight !== undefined,
    })
    this.metrics.received.inc({ decision: d.action })
    if (d.action === 'stored') return { kind: 'outcome', outcome: prev!.outcome! }
    if (d.action === 'join') return { kind: 'outcome', outcome: await inflight!.promise }
    if (d.action === 'reject') return { kind: 'outcome', outcome: this.fail(req.id, req.type, 'unknown-type', `unknown task type "${req.type}" on ${this.nodeId}`, { node: this.nodeId }) }
    if (d.action === 'redirect') return { kind: 'redirect', master: d.master, from: this.nodeId }
    const size = Buffer.byteLength(JSON.stringify(req.payload ?? null))
    if (size > def!.options.maxPayloadBytes) {
      return { kind: 'outcome', outcome: this.fail(req.id, req.type, 'payload-too-large', `payload of ${size} bytes exceeds maxPayloadBytes ${def!.options.maxPayloadBytes} on ${this.nodeId}`) }
    }
    const term = d.term
    const client = `peer:${fromPeer}`
    const refusal = this.overLimit(req.type, client, def!.options)
    // A full queue is the master's momentary state, not the task's fault: the submitter retries until its deadline.
    if (refusal) return { kind: 'outcome', outcome: this.fail(req.id, req.type, 'interrupted', refusal, { node: this.nodeId }) }
    this.journal.accept({ id: req.id, type: req.type, payload: req.payload ?? null, state: 'queued', attempt: req.attempt, node: this.nodeId, term: term ?? null, origin: 'remote', async: false, deadline: Date.now() + req.remainingMs })
    const started = Date.now()
    const promise = this.track(req.id, req.type, client, async () => {
      const o = await this.executor.run({
        id: req.id,
        type: req.type,
        payload: req.payload ?? null,
        attempt: req.attempt,
        term,
        onStart: () => this.journal.progress(req.id, 'running', req.attempt, this.nodeId, term ?? null),
        onSpawn: (pgid) => this.journal.recordGroup(req.id, groupOf(pgid)),
        mayStart: def!.options.masterOnly ? this.stillMaster(req.id, term) : undefined,
      })
      if (this.stopped && isFailure(o) && o.error === 'interrupted') return o
      this.journal.finish(req.id, o, isTerminal(o))
      this.metrics.finished.inc({ type: req.type, outcome: isFailure(o) ? o.error : 'ok' })
      this.metrics.duration.observe({ type: req.type, where: 'received' }, (Date.now() - started) / 1000)
      return o
    })
    return { kind: 'outcome', outcome: await promise }
  }

  /** The check before a masterOnly attempt starts: still master, under the term the task was accepted under. */
  private stillMaster(id: string, term: number | undefined): () => string | null {
    return () => {
      const refusal = masterOnlyStartRefusal({ self: this.nodeId, master: this.agent.master(), isMaster: this.agent.isMaster() }, term)
      if (refusal !== null) this.agent.logger.warn({ event: 'not-started', task: id, term: term ?? null }, `masterOnly task ${id} not started: ${refusal}`)
      return refusal
    }
  }

  // ---- restart recovery and load ---------------------------------------------------------------------------

  /**
   * The restart rule (docs/tasks.md, "Restarts"). Async tasks accepted here (their client holds a 202):
   * queued ones run as they are; forwarded ones are sent again as the next attempt (the master joins or returns
   * a run it already has); running ones were cut short by the stop or crash, and run again as the next attempt
   * only while the interruptions stay within the type's `retries` (a type with retries declares a rerun safe),
   * else they end `interrupted`. Synchronous and received tasks end `interrupted` (not terminal): their client
   * lost its connection and resubmits the id, or the submitting agent retries it.
   */
  private recover(): void {
    for (const r of this.journal.unfinished()) {
      if (r.state === 'running') this.killLeftover(r)
      const def = this.executor.definition(r.type)
      if (r.origin === 'submit' && r.async && def) {
        const cut = r.state === 'running'
        if (cut && r.interruptions >= def.options.retries) {
          const detail = `interrupted by a restart of ${this.nodeId} while it ran (attempt ${r.attempt}); task type "${r.type}" allows ${def.options.retries} retries, so it is not run again`
          this.journal.finish(r.id, this.fail(r.id, r.type, 'interrupted', detail, { attempt: r.attempt, node: this.nodeId }), false)
          this.agent.logger.warn({ task: r.id, type: r.type, attempt: r.attempt }, `async task ${r.id} was running when ${this.nodeId} stopped: reported interrupted`)
          continue
        }
        // Queued: it never started anywhere; forwarded or running: it may have, so the next try is a new attempt.
        const attempt = r.state === 'queued' ? r.attempt : r.attempt + 1
        this.journal.requeue(r.id, attempt, cut)
        this.agent.logger.info({ task: r.id, type: r.type, attempt, was: r.state }, `resuming async task ${r.id} after restart`)
        this.track(r.id, r.type, 'local', () => this.drive(r.id, r.type, r.payload, attempt, r.deadline, def.options.masterOnly)).catch(() => {})
      } else {
        const why = r.origin === 'submit' && r.async ? `unknown task type "${r.type}" after restart of ${this.nodeId}` : `agent ${this.nodeId} restarted while the task was ${r.state}`
        this.journal.finish(r.id, this.fail(r.id, r.type, r.async ? 'unknown-type' : 'interrupted', why, { attempt: r.attempt }), false)
      }
    }
  }

  /**
   * A command handler's process group that outlived the previous run of this agent (SIGKILL, crash: handlers run
   * detached) is killed before the restart rule applies, so a rerun never overlaps it. Only a group journaled in
   * this boot; and a pid is not reused while a group of that id exists, so a live group whose leader (if still
   * there) has the journaled start time is the one this agent spawned.
   */
  private killLeftover(r: StoredRecord): void {
    const g = r.group
    if (!g || !groupAlive(g.pgid)) return
    if (g.bootId !== null && g.bootId !== BOOT_ID) return
    const leader = startTicksOf(g.pgid)
    if (leader !== null && g.leaderStart !== null && leader !== g.leaderStart) return
    killGroup(g.pgid, 'SIGKILL')
    this.journal.recordGroup(r.id, null)
    this.agent.logger.warn({ task: r.id, pgid: g.pgid }, `killed process group ${g.pgid} of task ${r.id}, left running by the previous run of ${this.nodeId}`)
  }

  private lastLoadKey = ''
  private lastLoadAt = 0

  /** Peers subscribed to the load topic at the last check: one that appears (joined, restarted, reconnected) gets our load now. */
  private loadAudience = new Set<string>()

  private async publishLoad(force: boolean, heartbeatMs: number): Promise<void> {
    if (!this.isStarted) return
    const audience = new Set(this.agent.net.topicPeers(LOAD_TOPIC))
    const newcomer = [...audience].some((p) => !this.loadAudience.has(p))
    this.loadAudience = audience
    const load = this.localLoad()
    const key = JSON.stringify(load)
    if (!force && !newcomer && key === this.lastLoadKey && Date.now() - this.lastLoadAt < heartbeatMs) return
    this.lastLoadKey = key
    this.lastLoadAt = Date.now()
    const report: LoadReport = { id: this.nodeId, seq: ++this.loadSeq, ...load }
    try {
      await this.agent.net.publish(LOAD_TOPIC, encodeLoad(report))
    } catch {
      // Load gossip is best effort.
    }
  }
}

const BOOT_ID = readBootId()

function groupOf(pgid: number): StoredRecord['group'] {
  return { pgid, leaderStart: startTicksOf(pgid), bootId: BOOT_ID }
}

function bump(m: Map<string, number>, key: string, by: number): void {
  const n = (m.get(key) ?? 0) + by
  if (n > 0) m.set(key, n)
  else m.delete(key)
}

function strip(r: LoadReport): { running: number; queued: number; capacity: number; types: Record<string, TypeLoad> } {
  return { running: r.running, queued: r.queued, capacity: r.capacity, types: r.types }
}

function registerMetrics(registry: Registry) {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make()
  return {
    submitted: get('conclave_tasks_submitted_total', () => new Counter({ name: 'conclave_tasks_submitted_total', help: 'Tasks submitted to this agent', labelNames: ['type'] as const, registers: [registry] })),
    finished: get('conclave_tasks_finished_total', () => new Counter({ name: 'conclave_tasks_finished_total', help: 'Task outcomes recorded by this agent (ok or the error code)', labelNames: ['type', 'outcome'] as const, registers: [registry] })),
    forwarded: get('conclave_tasks_forwarded_total', () => new Counter({ name: 'conclave_tasks_forwarded_total', help: 'Forwards to the master by result (ok, error, redirect, lost, interrupted)', labelNames: ['type', 'result'] as const, registers: [registry] })),
    received: get('conclave_tasks_received_total', () => new Counter({ name: 'conclave_tasks_received_total', help: 'Forwarded tasks received, by routing decision', labelNames: ['decision'] as const, registers: [registry] })),
    refused: get('conclave_tasks_refused_total', () => new Counter({ name: 'conclave_tasks_refused_total', help: 'Tasks refused by an in-flight bound (429 queue-full), by limit', labelNames: ['limit'] as const, registers: [registry] })),
    duration: get('conclave_task_duration_seconds', () => new Histogram({ name: 'conclave_task_duration_seconds', help: 'Task time from accept to outcome', labelNames: ['type', 'where'] as const, buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120], registers: [registry] })),
  }
}
