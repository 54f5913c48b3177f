import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseTaskOptions } from '../../src/tasks/config.ts'
import { masterOnlyStartRefusal, type StartView } from '../../src/core/routing.ts'
import { Executor, groupAlive } from '../../src/tasks/executor.ts'
import { isFailure, type TaskFailure, type TaskSuccess } from '../../src/tasks/types.ts'

const dir = mkdtempSync(join(tmpdir(), 'conclave-exec-'))
const executors: Executor[] = []
afterAll(async () => {
  await Promise.all(executors.map((e) => e.stop()))
  rmSync(dir, { recursive: true, force: true })
})

function exec(): Executor {
  const e = new Executor('node-t')
  executors.push(e)
  return e
}

function sh(script: string, opts: Record<string, unknown> = {}) {
  return { options: parseTaskOptions('t', opts), command: { argv: ['sh', '-c', script] } }
}


let seq = 0
const req = (type: string, payload: unknown = null, attempt = 1, term?: number) => ({ id: `t-${++seq}`, type, payload, attempt, term })

describe('Executor, command handlers', () => {
  it('returns stdout as the result and gives the handler payload and env', async () => {
    const e = exec()
    e.define('echo', sh('cat; printf " %s %s %s %s %s" "$CONCLAVE_TASK_ID" "$CONCLAVE_TASK_TYPE" "$CONCLAVE_ATTEMPT" "$CONCLAVE_NODE_ID" "$CONCLAVE_MASTER_TERM"'))
    const r = req('echo', { a: 1 }, 2, 7)
    const o = (await e.run(r)) as TaskSuccess
    expect(isFailure(o)).toBe(false)
    expect(o.result).toBe(`{"a":1} ${r.id} echo 2 node-t 7`)
    expect(o).toMatchObject({ id: r.id, type: 'echo', node: 'node-t', attempt: 2, term: 7 })
  })

  it('parses stdout as JSON when it parses', async () => {
    const e = exec()
    e.define('json', sh(`read p; printf '{"got": %s, "n": [1,2]}\\n' "$p"`))
    const o = (await e.run(req('json', { x: 'y' }))) as TaskSuccess
    expect(o.result).toEqual({ got: { x: 'y' }, n: [1, 2] })
  })

  it('reports exit 3 as handler-failed with exit code 3 and the stderr tail', async () => {
    const e = exec()
    e.define('three', sh('echo "disk on fire" >&2; exit 3'))
    const o = (await e.run(req('three'))) as TaskFailure
    expect(o.error).toBe('handler-failed')
    expect(o.exitCode).toBe(3)
    expect(o.stderr).toContain('disk on fire')
    expect(o.detail).toMatch(/exited with code 3 on node-t: disk on fire/)
  })

  it('kills a hanging handler and its whole process group at the timeout', async () => {
    const e = exec()
    const pidFile = join(dir, 'hang.pid')
    // The handler starts a background grandchild too: both must be gone.
    e.define('hang', sh(`echo $$ > ${pidFile}; sleep 300 & sleep 300; wait`, { timeoutMs: 300, killGraceMs: 500 }))
    const o = (await e.run(req('hang'))) as TaskFailure
    expect(o.error).toBe('timeout')
    expect(o.detail).toMatch(/timed out after 300 ms on node-t/)
    const pgid = Number(readFileSync(pidFile, 'utf8').trim())
    expect(pgid).toBeGreaterThan(1)
    expect(groupAlive(pgid)).toBe(false)
  })

  it('escalates to SIGKILL when the handler ignores SIGTERM', async () => {
    const e = exec()
    const pidFile = join(dir, 'stubborn.pid')
    e.define('stubborn', sh(`trap "" TERM; echo $$ > ${pidFile}; while :; do sleep 0.05; done`, { timeoutMs: 300, killGraceMs: 300 }))
    const o = (await e.run(req('stubborn'))) as TaskFailure
    expect(o.error).toBe('timeout')
    expect(groupAlive(Number(readFileSync(pidFile, 'utf8').trim()))).toBe(false)
  })

  it('reports a command that cannot start', async () => {
    const e = exec()
    e.define('missing', { options: parseTaskOptions('missing', {}), command: { argv: [join(dir, 'no-such-program')] } })
    const o = (await e.run(req('missing'))) as TaskFailure
    expect(o.error).toBe('handler-failed')
    expect(o.detail).toMatch(/could not start/)
  })

  it('bounds stdout', async () => {
    const e = exec()
    e.define('big', sh('head -c 100000 /dev/zero', { maxOutputBytes: 1000 }))
    const o = (await e.run(req('big'))) as TaskFailure
    expect(o.error).toBe('handler-failed')
    expect(o.detail).toMatch(/more than 1000 bytes/)
  })

  it('retries a failed attempt on the same node with attempt+1', async () => {
    const e = exec()
    const f = join(dir, 'retry-count')
    e.define('flaky', sh(`echo x >> ${f}; [ "$CONCLAVE_ATTEMPT" = 2 ] && echo ok && exit 0; exit 1`, { retries: 2 }))
    const o = (await e.run(req('flaky'))) as TaskSuccess
    expect(o.result).toBe('ok')
    expect(o.attempt).toBe(2)
    expect(readFileSync(f, 'utf8').trim().split('\n')).toHaveLength(2)
  })

  it('limits concurrency per type and rejects when the queue is full', async () => {
    const e = exec()
    const gate = join(dir, 'gate')
    e.define('slow', sh(`while [ ! -e ${gate} ]; do sleep 0.02; done; echo done`, { concurrency: 1, maxQueued: 1, timeoutMs: 20_000 }))
    const first = e.run(req('slow'))
    const second = e.run(req('slow'))
    expect(e.load().slow).toMatchObject({ running: 1, queued: 1, concurrency: 1 })
    const third = (await e.run(req('slow'))) as TaskFailure
    expect(third.error).toBe('queue-full')
    expect(third.detail).toMatch(/queue of task type "slow" on node-t is full/)
    const { writeFileSync } = await import('node:fs')
    writeFileSync(gate, '')
    expect(((await first) as TaskSuccess).result).toBe('done')
    expect(((await second) as TaskSuccess).result).toBe('done')
    expect(e.load().slow).toMatchObject({ running: 0, queued: 0 })
  })

  // The flapping scenario's overlap: the fence killed the 4 running masterOnly tasks on a step-down, and their
  // freed slots started queued ones under the old term beside the new master's runs of the same tasks.
  it('a masterOnly task queued before a step-down never starts after it (the freed slot does not start it)', async () => {
    const e = exec()
    const starts = join(dir, 'fence-starts')
    e.define('mo', sh(`echo "$CONCLAVE_TASK_ID" >> ${starts}; sleep 30`, { masterOnly: true, concurrency: 1, timeoutMs: 60_000 }))
    const role: StartView = { self: 'node-t', master: { id: 'node-t', term: 3 }, isMaster: true }
    const mayStart = () => masterOnlyStartRefusal(role, 3)
    const started: string[] = []
    const running = { ...req('mo', null, 1, 3), mayStart, onStart: () => started.push('running') }
    const queued = { ...req('mo', null, 1, 3), mayStart, onStart: () => started.push('queued') }
    const first = e.run(running)
    const second = e.run(queued)
    for (let i = 0; i < 200 && !existsSync(starts); i++) await new Promise((r) => setTimeout(r, 10))
    expect(e.load().mo).toMatchObject({ running: 1, queued: 1 })
    role.isMaster = false
    role.master = { id: 'node-u', term: 4 }
    expect(e.fenceMasterOnly('stopped being master (term 3: test)')).toBe(1)
    const [a, b] = (await Promise.all([first, second])) as TaskFailure[]
    expect(a.error).toBe('interrupted')
    expect(a.detail).toMatch(/killed on node-t: stopped being master/)
    expect(b.error).toBe('interrupted')
    expect(b.detail).toBe('not started on node-t: node-t is no longer master (accepted under term 3)')
    expect(started).toEqual(['running'])
    expect(readFileSync(starts, 'utf8').trim().split('\n')).toEqual([running.id])
    expect(e.load().mo).toMatchObject({ running: 0, queued: 0 })
  })

  it('a fenced masterOnly attempt is not retried on the node that stepped down, nor under a newer term of its own', async () => {
    const e = exec()
    const count = join(dir, 'fence-retries')
    e.define('mor', sh(`echo x >> ${count}; sleep 30`, { masterOnly: true, retries: 3, timeoutMs: 60_000 }))
    const role: StartView = { self: 'node-t', master: { id: 'node-t', term: 5 }, isMaster: true }
    const run = e.run({ ...req('mor', null, 1, 5), mayStart: () => masterOnlyStartRefusal(role, 5) })
    for (let i = 0; i < 200 && !existsSync(count); i++) await new Promise((r) => setTimeout(r, 10))
    // Stepped down and elected again at once: master, but under term 6, which did not accept this attempt.
    role.master = { id: 'node-t', term: 6 }
    e.fenceMasterOnly('stopped being master (term 5: test)')
    const o = (await run) as TaskFailure
    expect(o.error).toBe('interrupted')
    expect(o.attempt).toBe(2)
    expect(o.detail).toBe('not started on node-t: node-t is master under term 6, not term 5 it accepted the task under')
    expect(readFileSync(count, 'utf8').trim().split('\n')).toHaveLength(1)
  })

  it('answers unknown-type for a type it does not know', async () => {
    expect(((await exec().run(req('nope'))) as TaskFailure).error).toBe('unknown-type')
  })
})

describe('Executor, module handlers', () => {
  it('returns the handler result and passes the context', async () => {
    const e = exec()
    e.define('add', { options: parseTaskOptions('add', {}), handler: (p, ctx) => ({ sum: (p as { a: number; b: number }).a + (p as { b: number }).b, term: ctx.term, attempt: ctx.attempt }) })
    const o = (await e.run(req('add', { a: 2, b: 3 }, 1, 9))) as TaskSuccess
    expect(o.result).toEqual({ sum: 5, term: 9, attempt: 1 })
  })

  it('turns a throw into handler-failed without crashing', async () => {
    const e = exec()
    e.define('boom', { options: parseTaskOptions('boom', {}), handler: async () => { throw new Error('kaboom') } })
    const o = (await e.run(req('boom'))) as TaskFailure
    expect(o.error).toBe('handler-failed')
    expect(o.detail).toMatch(/kaboom/)
  })

  it('times out a hanging module handler and aborts its signal', async () => {
    const e = exec()
    let aborted = false
    e.define('stuck', {
      options: parseTaskOptions('stuck', { timeoutMs: 100 }),
      handler: (_p, ctx) => new Promise(() => { ctx.signal.addEventListener('abort', () => { aborted = true }) }),
    })
    const o = (await e.run(req('stuck'))) as TaskFailure
    expect(o.error).toBe('timeout')
    expect(aborted).toBe(true)
    expect(existsSync(dir)).toBe(true)
  })
})
