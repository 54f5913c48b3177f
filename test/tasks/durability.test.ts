// Work accepted with 202 survives every kind of stop (real agent processes on 127.0.0.1): a graceful stop keeps
// queued tasks queued and they all run after the restart; a task cut short while running follows the restart
// rule (rerun within its type's retries, else `interrupted`); a journal whose WAL was cut stops the agent with
// exit code 2 and one line naming the file and the way out.
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it, onTestFailed } from 'vitest'
import { Journal } from '../../src/tasks/journal.ts'
import { AgentProc, Cluster, waitFor } from '../integration/harness.ts'

const cluster = new Cluster()
const runs = join(cluster.dir, 'runs.log')
const record = `echo "$CONCLAVE_TASK_ID $CONCLAVE_ATTEMPT" >> ${runs}`
const config = {
  tasks: {
    // One at a time, 1 s each: a burst of submits leaves one running and the rest queued.
    serial: { concurrency: 1, maxQueued: 20, timeoutMs: 20_000, command: ['sh', '-c', `${record}; sleep 1; echo '"ok"'`] },
    // Declared safe to rerun once after an interruption. Attempt 1 takes 20 s (it is cut by a SIGKILL of the
    // agent and would run on, orphaned), a rerun 1 s. Each run records its process group id.
    rerun: {
      concurrency: 1,
      retries: 1,
      timeoutMs: 30_000,
      command: ['sh', '-c', `echo "$CONCLAVE_TASK_ID $CONCLAVE_ATTEMPT $$" >> ${runs}; if [ "$CONCLAVE_ATTEMPT" = 1 ]; then sleep 20; else sleep 1; fi; echo '"ok"'`],
    },
    quick: { command: ['sh', '-c', `${record}; echo '"ok"'`] },
  },
}
const configFile = join(cluster.dir, 'config.json')
writeFileSync(configFile, JSON.stringify(config))
afterAll(() => cluster.destroy())

async function post(a: AgentProc, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${a.spec.apiPort}/v1/tasks?async=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-conclave-client': 'test' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function task(a: AgentProc, id: string): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${a.spec.apiPort}/v1/tasks/${id}`, { signal: AbortSignal.timeout(2_000) })
    return res.ok ? ((await res.json()) as Record<string, unknown>) : null
  } catch {
    return null
  }
}

/** Pids of the group that are not zombies, from /proc. */
function liveInGroup(pgid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(f[2]) === pgid && f[0] !== 'Z') out.push(Number(name))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

const runsOf = (id: string) => (existsSync(runs) ? readFileSync(runs, 'utf8').split('\n').filter((l) => l.startsWith(`${id} `)) : [])

describe('task durability across stops', () => {
  it('a graceful stop (SIGTERM) keeps 5 queued async tasks queued; after the restart all 5 complete, the cut one follows the rule', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const a = await cluster.spawn('node-1', [], ['--config', configFile])
    await waitFor('node-1 up', () => a.status())
    const ids = ['head', 'q1', 'q2', 'q3', 'q4', 'q5']
    for (const id of ids) expect((await post(a, { type: 'serial', id })).status).toBe(202)
    await waitFor('head to start', async () => runsOf('head').length === 1, 10_000, 50)
    a.signal('SIGTERM')
    expect((await a.exited).code).toBe(0)

    // What the stop left on disk: nothing of the queued ones was marked interrupted.
    const j = new Journal(a.spec.dataDir)
    const states = Object.fromEntries(ids.map((id) => [id, j.get(id)?.state]))
    j.close()
    expect(states).toEqual({ head: 'running', q1: 'queued', q2: 'queued', q3: 'queued', q4: 'queued', q5: 'queued' })

    const b = new AgentProc(a.spec)
    cluster.agents.push(b)
    for (const id of ids.slice(1)) {
      const t = await waitFor(`${id} to succeed after the restart`, async () => {
        const r = await task(b, id)
        return r && r.state === 'succeeded' ? r : false
      }, 30_000)
      expect(t).toMatchObject({ attempt: 1, outcome: { result: 'ok', node: 'node-1' } })
      expect(runsOf(id)).toEqual([`${id} 1`])
    }
    // head was running when the stop came; type serial has retries 0, so it is reported, not run again.
    const head = await task(b, 'head')
    expect(head).toMatchObject({ state: 'failed', outcome: { error: 'interrupted' } })
    expect((head!.outcome as { detail: string }).detail).toMatch(/interrupted by a restart of node-1 while it ran \(attempt 1\).*retries/)
    expect(runsOf('head')).toHaveLength(1)
    b.signal('SIGTERM')
    expect((await b.exited).code).toBe(0)
  }, 90_000)

  it('a task cut by a SIGKILL mid-run: the orphaned handler is killed at the restart, then it runs again (its type has retries left)', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const a = await cluster.spawn('node-2', [], ['--config', configFile])
    await waitFor('node-2 up', () => a.status())
    expect((await post(a, { type: 'rerun', id: 'cut-1' })).status).toBe(202)
    await waitFor('cut-1 to start', async () => runsOf('cut-1').length === 1, 10_000, 50)
    await a.kill()
    const orphan = Number(runsOf('cut-1')[0].split(' ')[2])
    expect(liveInGroup(orphan).length).toBeGreaterThan(0) // handlers run detached: the SIGKILL of the agent left it running
    const b = new AgentProc(a.spec)
    cluster.agents.push(b)
    const t = await waitFor('cut-1 to succeed after the restart', async () => {
      const r = await task(b, 'cut-1')
      return r && r.state === 'succeeded' ? r : false
    }, 30_000)
    expect(t).toMatchObject({ attempt: 2 })
    expect(runsOf('cut-1').map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['cut-1 1', 'cut-1 2'])
    // Killed: what is left of the group are zombies at most (this machine's init does not reap orphans).
    expect(liveInGroup(orphan)).toEqual([])
    expect(b.stderr).toMatch(new RegExp(`killed process group ${orphan} of task cut-1`))
    await b.kill()
  }, 90_000)

  it('a journal whose WAL was cut in half stops the agent with exit code 2 and one line naming the file and the way out', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const a = await cluster.spawn('node-3', [], ['--config', configFile])
    await waitFor('node-3 up', () => a.status())
    for (let i = 0; i < 10; i++) expect((await post(a, { type: 'quick', id: `w${i}`, payload: { pad: 'p'.repeat(2000) } })).status).toBe(202)
    await a.kill() // SIGKILL: the WAL stays un-checkpointed
    const journal = join(a.spec.dataDir, 'tasks.sqlite')
    const wal = `${journal}-wal`
    truncateSync(wal, Math.floor(statSync(wal).size / 2))
    const b = new AgentProc(a.spec)
    cluster.agents.push(b)
    const exit = await b.exited
    expect(exit.code).toBe(2)
    const last = b.stderr.trim().split('\n').pop()!
    expect(last).toMatch(new RegExp(`^conclave: .*task journal ${journal} is unusable \\(write-ahead log is cut: frame \\d+ at byte \\d+ has \\d+ of \\d+ bytes\\)`))
    expect(last).toMatch(/move .* aside and start again; the async tasks still pending in it are then lost/)
    // Never a silent reset: the files are still there for the operator.
    expect(statSync(wal).size).toBeGreaterThan(0)
  }, 60_000)
})
