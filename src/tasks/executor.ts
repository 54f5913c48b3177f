// The executor: runs task attempts as child processes (each in its own process group) or in-process module
// handlers, with a per-type concurrency limit, a bounded queue, timeouts and bounded output.
// Nothing a handler does (crash, hang, garbage output, throw) can take the agent down: every path ends in an outcome.
import { spawn } from 'node:child_process'
import type { TaskOptions } from './config.ts'
import type { ModuleHandler, TaskContext, TaskFailure, TaskOutcome } from './types.ts'
import { MAX_JSON_DEPTH, nestsDeeperThan } from './wire.ts'

export interface CommandSpec {
  argv: string[]
  cwd?: string
  env?: Record<string, string>
}

export interface TaskDefinition {
  options: TaskOptions
  command?: CommandSpec
  handler?: ModuleHandler
}

export interface RunRequest {
  id: string
  type: string
  payload: unknown
  attempt: number
  term: number | undefined
  /** Called when the attempt leaves the queue and starts (for the journal's queued -> running). */
  onStart?: () => void
  /**
   * Aborting it while the task still waits in the queue takes it out (outcome `interrupted`): its client went
   * away. Once started, a run is not cut by it: its outcome is journaled for a retry with the same id.
   */
  signal?: AbortSignal
  /** Called with the process group id of a command handler once it is spawned (journaled, for restarts). */
  onSpawn?: (pgid: number) => void
  /**
   * Asked right before each attempt starts (after the queue, and before every retry): null lets it start, a
   * reason refuses it and the run ends `interrupted` with that reason, never started. For masterOnly runs the
   * service checks the role again here (masterOnlyStartRefusal in the core).
   */
  mayStart?: () => string | null
}

export interface TypeLoad {
  running: number
  queued: number
  concurrency: number
  maxQueued: number
}

const STDERR_TAIL = 4096

interface TypeState {
  def: TaskDefinition
  running: number
  queue: Array<() => void>
}

export class Executor {
  private readonly types = new Map<string, TypeState>()
  private readonly live = new Set<AbortController>()
  /** The running attempts of masterOnly types: killed at once when this node stops being master. */
  private readonly masterOnlyLive = new Set<AbortController>()
  private stopping = false

  constructor(private readonly nodeId: string) {}

  define(type: string, def: TaskDefinition): void {
    if (!def.command === !def.handler) throw new Error(`task type ${type}: give exactly one of a command or a module handler`)
    const prev = this.types.get(type)
    this.types.set(type, { def, running: prev?.running ?? 0, queue: prev?.queue ?? [] })
  }

  has(type: string): boolean {
    return this.types.has(type)
  }

  definition(type: string): TaskDefinition | undefined {
    return this.types.get(type)?.def
  }

  typeNames(): string[] {
    return [...this.types.keys()]
  }

  load(): Record<string, TypeLoad> {
    const out: Record<string, TypeLoad> = {}
    for (const [name, t] of this.types) {
      out[name] = { running: t.running, queued: t.queue.length, concurrency: t.def.options.concurrency, maxQueued: t.def.options.maxQueued }
    }
    return out
  }

  /**
   * Run one task (with its configured retries) and resolve with its outcome; never rejects.
   * Waits in the type's queue when `concurrency` attempts already run; answers `queue-full` when the queue is full.
   */
  async run(req: RunRequest): Promise<TaskOutcome> {
    const t = this.types.get(req.type)
    if (!t) return this.fail(req, 'unknown-type', `unknown task type "${req.type}" on ${this.nodeId}`)
    if (this.stopping) return this.fail(req, 'interrupted', `agent ${this.nodeId} is stopping`)
    if (t.running >= t.def.options.concurrency) {
      if (t.queue.length >= t.def.options.maxQueued) {
        return this.fail(
          req,
          'queue-full',
          `queue of task type "${req.type}" on ${this.nodeId} is full (${t.running} running, ${t.queue.length} queued, maxQueued ${t.def.options.maxQueued})`,
        )
      }
      const granted = await this.waitTurn(t, req.signal)
      if (this.stopping) return this.fail(req, 'interrupted', `agent ${this.nodeId} is stopping`)
      if (!granted) return this.fail(req, 'interrupted', `the client went away while task ${req.id} waited in the queue on ${this.nodeId}`)
    }
    t.running++
    try {
      let outcome: TaskOutcome = this.fail(req, 'handler-failed', 'not run')
      for (let i = 0; i <= t.def.options.retries; i++) {
        const refusal = req.mayStart?.() ?? null
        // Interrupted, not the last attempt's error: the submitter retries on the next master, which runs it whole.
        if (refusal !== null) return this.fail({ ...req, attempt: req.attempt + i }, 'interrupted', `not started on ${this.nodeId}: ${refusal}`)
        if (i === 0) req.onStart?.()
        outcome = await this.attempt(t.def, { ...req, attempt: req.attempt + i })
        if (!('error' in outcome) || this.stopping) break
      }
      return outcome
    } catch (e) {
      // Defensive: attempt() handles its own errors; anything here is a bug, reported as a failure.
      return this.fail(req, 'handler-failed', `executor error on ${this.nodeId}: ${(e as Error).message}`)
    } finally {
      t.running--
      t.queue.shift()?.()
    }
  }

  /** Wait for a free slot; false when `signal` aborted first (the waiter is then out of the queue). */
  private waitTurn(t: TypeState, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false)
    return new Promise<boolean>((resolve) => {
      const onAbort = () => {
        const i = t.queue.indexOf(grant)
        if (i >= 0) t.queue.splice(i, 1)
        resolve(false)
      }
      const grant = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve(true)
      }
      t.queue.push(grant)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * This node stopped being master: kill every running masterOnly attempt at once (SIGKILL to the process
   * group, no grace), before another node can be granted the role. Their submitters retry on the new master.
   */
  fenceMasterOnly(reason: string): number {
    const n = this.masterOnlyLive.size
    for (const ac of this.masterOnlyLive) ac.abort(new FenceError(reason))
    return n
  }

  /** Stop: abort every running attempt (process groups are killed) and release the queues. */
  async stop(): Promise<void> {
    this.stopping = true
    for (const ac of this.live) ac.abort(new Error('agent stopping'))
    for (const t of this.types.values()) for (const w of t.queue.splice(0)) w()
    const deadline = Date.now() + 5_000
    while (this.live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  }

  private async attempt(def: TaskDefinition, req: RunRequest): Promise<TaskOutcome> {
    const ac = new AbortController()
    this.live.add(ac)
    if (def.options.masterOnly) this.masterOnlyLive.add(ac)
    const started = performance.now()
    try {
      const base = { id: req.id, type: req.type, node: this.nodeId, attempt: req.attempt, ...(req.term !== undefined ? { term: req.term } : {}) }
      if (def.handler) {
        const ctx: TaskContext = { id: req.id, type: req.type, attempt: req.attempt, nodeId: this.nodeId, term: req.term, signal: ac.signal }
        const r = await runModule(def.handler, req.payload, ctx, def.options.timeoutMs, ac)
        const durationMs = Math.round(performance.now() - started)
        if (r.ok && nestsDeeperThan(r.result, MAX_JSON_DEPTH)) return { ...base, error: 'handler-failed', detail: resultTooDeep(req.type, this.nodeId), durationMs }
        if (r.ok) return { ...base, result: r.result, durationMs }
        if (r.timedOut) return { ...base, error: 'timeout', detail: `task ${req.id} timed out after ${def.options.timeoutMs} ms on ${this.nodeId}`, durationMs }
        if (ac.signal.aborted) return { ...base, error: 'interrupted', detail: interruptedDetail(ac.signal, this.nodeId), durationMs }
        return { ...base, error: 'handler-failed', detail: `handler of ${req.type} failed on ${this.nodeId}: ${r.message}`, durationMs }
      }
      const cmd = def.command!
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        ...cmd.env,
        CONCLAVE_TASK_ID: req.id,
        CONCLAVE_TASK_TYPE: req.type,
        CONCLAVE_ATTEMPT: String(req.attempt),
        CONCLAVE_NODE_ID: this.nodeId,
        CONCLAVE_MASTER_TERM: req.term === undefined ? '' : String(req.term),
      }
      const r = await runCommand(cmd.argv, {
        stdin: JSON.stringify(req.payload ?? null),
        env,
        cwd: cmd.cwd,
        timeoutMs: def.options.timeoutMs,
        killGraceMs: def.options.killGraceMs,
        maxOutputBytes: def.options.maxOutputBytes,
        signal: ac.signal,
        onSpawn: req.onSpawn,
      })
      const durationMs = Math.round(performance.now() - started)
      const stderr = r.stderrTail.length > 0 ? r.stderrTail : undefined
      if (r.spawnError) {
        return { ...base, error: 'handler-failed', detail: `could not start ${cmd.argv[0]} on ${this.nodeId}: ${r.spawnError}`, exitCode: null, durationMs }
      }
      if (r.timedOut) {
        return {
          ...base,
          error: 'timeout',
          detail: `task ${req.id} timed out after ${def.options.timeoutMs} ms on ${this.nodeId}; its process group was killed`,
          exitCode: r.exitCode,
          signal: r.signal,
          stderr,
          durationMs,
        }
      }
      if (r.aborted) return { ...base, error: 'interrupted', detail: interruptedDetail(ac.signal, this.nodeId), exitCode: r.exitCode, signal: r.signal, durationMs }
      if (r.outputExceeded) {
        return { ...base, error: 'handler-failed', detail: `handler of ${req.type} on ${this.nodeId} wrote more than ${def.options.maxOutputBytes} bytes to stdout`, exitCode: r.exitCode, stderr, durationMs }
      }
      if (r.exitCode !== 0) {
        const how = r.exitCode === null ? `was killed by ${r.signal}` : `exited with code ${r.exitCode}`
        const tail = stderr ? `: ${lastLine(stderr)}` : ''
        return { ...base, error: 'handler-failed', detail: `handler of ${req.type} ${how} on ${this.nodeId}${tail}`, exitCode: r.exitCode, signal: r.signal, stderr, durationMs }
      }
      const result = parseResult(r.stdout)
      // Results travel back in one task reply, whose structure is bounded (src/tasks/wire.ts).
      if (nestsDeeperThan(result, MAX_JSON_DEPTH)) return { ...base, error: 'handler-failed', detail: resultTooDeep(req.type, this.nodeId), exitCode: r.exitCode, stderr, durationMs }
      return { ...base, result, durationMs }
    } finally {
      this.live.delete(ac)
      this.masterOnlyLive.delete(ac)
    }
  }

  private fail(req: RunRequest, error: TaskFailure['error'], detail: string): TaskFailure {
    return { id: req.id, type: req.type, error, detail, node: this.nodeId, attempt: req.attempt }
  }
}

function resultTooDeep(type: string, nodeId: string): string {
  return `handler of ${type} on ${nodeId} returned a result nested deeper than ${MAX_JSON_DEPTH} levels`
}

function lastLine(s: string): string {
  const lines = s.trimEnd().split('\n')
  return lines[lines.length - 1].slice(0, 300)
}

/** stdout is the result: JSON when it parses, the text otherwise, null when empty. */
export function parseResult(stdout: string): unknown {
  if (stdout.trim() === '') return null
  try {
    return JSON.parse(stdout)
  } catch {
    return stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout
  }
}

type ModuleResult = { ok: true; result: unknown } | { ok: false; timedOut: boolean; message: string }

async function runModule(fn: ModuleHandler, payload: unknown, ctx: TaskContext, timeoutMs: number, ac: AbortController): Promise<ModuleResult> {
  let timer: NodeJS.Timeout | undefined
  let timedOut = false
  // One promise for both ways out: the timeout aborts the handler's signal, so does the agent stopping.
  const cut = new Promise<ModuleResult>((resolve) => {
    ac.signal.addEventListener('abort', () => resolve({ ok: false, timedOut, message: timedOut ? 'timeout' : 'aborted: agent stopping' }), { once: true })
    timer = setTimeout(() => {
      timedOut = true
      ac.abort(new Error('timeout'))
    }, timeoutMs)
  })
  const work = (async (): Promise<ModuleResult> => {
    try {
      const result = await fn(payload, ctx)
      // Results cross the wire and the journal as JSON: normalise now so a bad value fails here, not later.
      return { ok: true, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) }
    } catch (e) {
      return { ok: false, timedOut: false, message: e instanceof Error ? e.message : String(e) }
    }
  })()
  try {
    return await Promise.race([work, cut])
  } finally {
    clearTimeout(timer)
  }
}

export interface CommandOptions {
  stdin: string
  env: Record<string, string>
  cwd?: string
  timeoutMs: number
  killGraceMs: number
  maxOutputBytes: number
  signal?: AbortSignal
  onSpawn?: (pgid: number) => void
}

export interface CommandResult {
  exitCode: number | null
  signal: string | null
  stdout: string
  stderrTail: string
  timedOut: boolean
  aborted: boolean
  outputExceeded: boolean
  spawnError?: string
  pid?: number
}

/** True while any process of the group is alive (signal 0 probes without killing). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig)
  } catch {
    // ESRCH: already gone.
  }
}

/**
 * Run argv in its own process group (detached), feed stdin, capture bounded stdout and the tail of stderr.
 * On timeout or abort: SIGTERM to the whole group, SIGKILL after the grace period, and resolve only once the
 * group is gone (bounded), so a reported timeout means nothing of the handler is left running.
 */
export function runCommand(argv: string[], o: CommandOptions): Promise<CommandResult> {
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>
    try {
      child = spawn(argv[0], argv.slice(1), { cwd: o.cwd, env: o.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] })
    } catch (e) {
      resolve({ exitCode: null, signal: null, stdout: '', stderrTail: '', timedOut: false, aborted: false, outputExceeded: false, spawnError: (e as Error).message })
      return
    }
    const pid = child.pid
    if (pid !== undefined) o.onSpawn?.(pid)
    const out: Buffer[] = []
    let outBytes = 0
    let outputExceeded = false
    let errTail = Buffer.alloc(0)
    let timedOut = false
    let aborted = false
    let exitCode: number | null = null
    let exitSignal: string | null = null
    let exited = false
    let done = false
    let spawnError: string | undefined
    const timers: NodeJS.Timeout[] = []

    const finish = async () => {
      if (done) return
      done = true
      for (const t of timers) clearTimeout(t)
      o.signal?.removeEventListener('abort', onAbort)
      if ((timedOut || aborted) && pid !== undefined) {
        // Wait (bounded) until no process of the group is left, killing stragglers.
        const until = Date.now() + o.killGraceMs + 3_000
        while (groupAlive(pid) && Date.now() < until) {
          if (Date.now() - termAt >= o.killGraceMs) killGroup(pid, 'SIGKILL')
          await new Promise((r) => setTimeout(r, 25))
        }
      }
      child.stdout?.destroy()
      child.stderr?.destroy()
      resolve({
        exitCode,
        signal: exitSignal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderrTail: errTail.toString('utf8'),
        timedOut,
        aborted,
        outputExceeded,
        spawnError,
        pid,
      })
    }

    let termAt = 0
    const terminate = () => {
      if (pid === undefined) return
      termAt = Date.now()
      killGroup(pid, 'SIGTERM')
      timers.push(setTimeout(() => killGroup(pid, 'SIGKILL'), o.killGraceMs))
    }
    const onAbort = () => {
      if (exited || timedOut || aborted) return
      aborted = true
      if (o.signal?.reason instanceof FenceError && pid !== undefined) {
        // Fencing: the role is gone, so no grace period.
        termAt = Date.now() - o.killGraceMs
        killGroup(pid, 'SIGKILL')
      } else terminate()
    }
    o.signal?.addEventListener('abort', onAbort, { once: true })
    if (o.signal?.aborted) onAbort()

    timers.push(
      setTimeout(() => {
        if (exited || aborted) return
        timedOut = true
        terminate()
      }, o.timeoutMs),
    )

    child.on('error', (e) => {
      spawnError = e.message
      exited = true
      void finish()
    })
    child.stdout!.on('data', (b: Buffer) => {
      if (outputExceeded) return
      outBytes += b.length
      if (outBytes > o.maxOutputBytes) {
        outputExceeded = true
        return
      }
      out.push(b)
    })
    child.stderr!.on('data', (b: Buffer) => {
      errTail = Buffer.concat([errTail, b])
      if (errTail.length > STDERR_TAIL) errTail = errTail.subarray(errTail.length - STDERR_TAIL)
    })
    // A handler that never reads stdin, or exits early, gives EPIPE: not an error of the agent.
    child.stdin!.on('error', () => {})
    child.stdin!.end(o.stdin)

    child.on('exit', (code, sig) => {
      exited = true
      exitCode = code
      exitSignal = sig
      if (timedOut || aborted) {
        void finish()
        return
      }
      // Normal exit: wait for the pipes to drain, but not forever (a background grandchild may hold them open).
      timers.push(setTimeout(() => void finish(), 1_000))
    })
    child.on('close', () => {
      if (exited) void finish()
    })
  })
}

/** Abort reason when this node lost the master role while masterOnly attempts ran. */
export class FenceError extends Error {
  override name = 'FenceError'
}

function interruptedDetail(signal: AbortSignal, nodeId: string): string {
  return signal.reason instanceof FenceError ? `killed on ${nodeId}: ${signal.reason.message}` : `agent ${nodeId} stopped while the task ran`
}
