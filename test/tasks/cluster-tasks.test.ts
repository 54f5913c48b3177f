// Tasks on three real agent processes on 127.0.0.1 (bootstrap, no mDNS): routing to the master, local tasks,
// idempotent ids, failed and hanging handlers, the CLI, an async task across a restart, hooks, failover
// (SIGKILL of the master mid-task) and the explicit no-quorum error.
import { readFileSync, existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { AgentProc, Cluster, runCli, stateOf, waitFor } from '../integration/harness.ts'
import { groupAlive } from '../../src/tasks/executor.ts'

const cluster = new Cluster()
const dir = cluster.dir
const runs = join(dir, 'runs.log')
const hooks = join(dir, 'hooks.log')
const pgids = join(dir, 'pgids.log')
let agents: AgentProc[] = []
/** Term under which node-2 ran the failover task (set by the failover test). */
let newMasterTerm = 0

// Every run appends "<node> <task id> <attempt> <term>" to runs.log, so tests can see where (and how often) a task ran.
const record = `echo "$CONCLAVE_NODE_ID $CONCLAVE_TASK_ID $CONCLAVE_ATTEMPT $CONCLAVE_MASTER_TERM" >> ${runs}`
const config = {
  tasks: {
    probe: { masterOnly: true, command: ['sh', '-c', `cat >/dev/null; ${record}; printf '{"node":"%s","term":"%s","attempt":%s}' "$CONCLAVE_NODE_ID" "$CONCLAVE_MASTER_TERM" "$CONCLAVE_ATTEMPT"`] },
    where: { command: ['sh', '-c', `${record}; echo "$CONCLAVE_NODE_ID"`] },
    exit3: { command: ['sh', '-c', 'echo "no such key" >&2; exit 3'] },
    hang: { command: ['sh', '-c', `echo $$ >> ${pgids}; sleep 300 & sleep 300; wait`], timeoutMs: 1_000, killGraceMs: 500 },
    // Long masterOnly task for the failover test: records its start, then takes 4 s.
    slow: { masterOnly: true, timeoutMs: 30_000, command: ['sh', '-c', `echo $$ >> ${pgids}; ${record}; sleep 4; echo '"slow done"'`] },
    // Async task for the restart test: long enough to be caught running by a SIGKILL. retries 1 declares a rerun
    // safe, so the run the SIGKILL cut short is run again after the restart (docs/tasks.md, "Restarts").
    later: { timeoutMs: 30_000, retries: 1, command: ['sh', '-c', `echo $$ >> ${pgids}; ${record}; sleep 2; printf '{"done":"%s","attempt":%s}' "$CONCLAVE_NODE_ID" "$CONCLAVE_ATTEMPT"`] },
  },
  on: {
    becomeMaster: ['sh', '-c', `echo "become $CONCLAVE_NODE_ID $CONCLAVE_MASTER_TERM" >> ${hooks}`],
    stopMaster: ['sh', '-c', `echo "stop $CONCLAVE_NODE_ID $CONCLAVE_MASTER_TERM" >> ${hooks}`],
  },
}
const configFile = join(dir, 'config.json')

interface Res {
  status: number
  body: Record<string, unknown>
}

async function submit(a: AgentProc, body: Record<string, unknown>, query = '', boundMs = 60_000): Promise<Res> {
  const res = await fetch(`http://127.0.0.1:${a.spec.apiPort}/v1/tasks${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-conclave-client': 'test' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(boundMs),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function getTask(a: AgentProc, id: string): Promise<Res | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${a.spec.apiPort}/v1/tasks/${id}`, { signal: AbortSignal.timeout(2_000) })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  } catch {
    return null
  }
}

const lines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : [])
const runsOf = (id: string) => lines(runs).map((l) => l.split(' ')).filter((p) => p[1] === id)

async function masterEverywhere(among: AgentProc[], id: string, timeoutMs = 45_000): Promise<void> {
  await waitFor(
    `${id} master in the view of ${among.map((a) => a.id).join(', ')}`,
    async () => {
      const st = await Promise.all(among.map((a) => a.status()))
      return st.every((s) => s !== null && s.master?.id === id && s.quorum.has)
    },
    timeoutMs,
  )
}


beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(config))
  // --expect 3: no agent crowns itself before it has seen the others (the deployment a real cluster uses).
  const extra = ['--config', configFile, '--expect', '3']
  const first = await cluster.spawn('node-1', [], extra)
  const seed = `/ip4/127.0.0.1/tcp/${first.spec.p2pPort}`
  agents = [first, await cluster.spawn('node-2', [seed], extra), await cluster.spawn('node-3', [seed], extra)]
  try {
    await masterEverywhere(agents, 'node-1', 60_000)
  } catch (e) {
    console.error(cluster.logs())
    throw e
  }
}, 90_000)

afterAll(async () => {
  await cluster.destroy()
  // Handlers orphaned by a SIGKILLed agent live in their own process groups: end them too (we started them).
  for (const l of lines(pgids)) {
    const pgid = Number(l)
    if (pgid > 1 && groupAlive(pgid)) process.kill(-pgid, 'SIGKILL')
  }
}, 30_000)

describe('tasks on three agents', () => {
  it('a masterOnly task submitted to any agent runs on the master, and only there', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    for (const a of agents) {
      const id = `probe-via-${a.id}`
      const r = await submit(a, { type: 'probe', payload: { from: a.id }, id })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(r.body).toMatchObject({ id, type: 'probe', node: 'node-1', attempt: 1 })
      expect((r.body.result as { node: string }).node).toBe('node-1')
      expect(Number((r.body.result as { term: string }).term)).toBeGreaterThan(0)
      expect(runsOf(id).map((p) => p[0])).toEqual(['node-1'])
    }
  })

  it('a non-masterOnly task runs where it was submitted', async () => {
    for (const a of agents) {
      const r = await submit(a, { type: 'where', id: `where-${a.id}` })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(r.body).toMatchObject({ node: a.id, result: a.id })
      expect(runsOf(`where-${a.id}`).map((p) => p[0])).toEqual([a.id])
    }
  })

  it('a reused task id does not run twice: the stored outcome comes back', async () => {
    const first = await submit(agents[1], { type: 'where', id: 'dup-local' })
    const again = await submit(agents[1], { type: 'where', id: 'dup-local' })
    expect(again).toEqual(first)
    expect(runsOf('dup-local')).toHaveLength(1)
    // masterOnly through two different submitters: the master returns its stored result to the second.
    const viaB = await submit(agents[1], { type: 'probe', id: 'dup-master' })
    const viaC = await submit(agents[2], { type: 'probe', id: 'dup-master' })
    expect(viaC.body).toEqual(viaB.body)
    expect(runsOf('dup-master')).toHaveLength(1)
    // The same id for another type is a conflict, not a silent reuse.
    const clash = await submit(agents[1], { type: 'probe', id: 'dup-local' })
    expect(clash.status).toBe(409)
    expect(clash.body.error).toBe('id-conflict')
  })

  it('a handler that exits 3 is reported as failed with exit code 3', async () => {
    const r = await submit(agents[2], { type: 'exit3', id: 'exit3-1' })
    expect(r.status).toBe(502)
    expect(r.body).toMatchObject({ error: 'handler-failed', exitCode: 3, node: 'node-3' })
    expect(r.body.detail).toMatch(/exited with code 3 on node-3: no such key/)
  })

  it('a handler that hangs is killed at its timeout, with its whole process group', async () => {
    const before = lines(pgids).length
    const r = await submit(agents[1], { type: 'hang', id: 'hang-1' })
    expect(r.status).toBe(504)
    expect(r.body).toMatchObject({ error: 'timeout', node: 'node-2' })
    expect(r.body.detail).toMatch(/timed out after 1000 ms on node-2/)
    const pgid = Number(lines(pgids)[before])
    expect(pgid).toBeGreaterThan(1)
    expect(groupAlive(pgid)).toBe(false)
  })

  it('rejects unknown types, oversized payloads and bad bodies with a named error', async () => {
    const unknown = await submit(agents[0], { type: 'nope' })
    expect(unknown.status).toBe(400)
    expect(unknown.body).toMatchObject({ error: 'unknown-type' })
    const big = await submit(agents[0], { type: 'where', payload: 'x'.repeat(1024 * 1024 + 10) })
    expect(big.status).toBe(413)
    expect(big.body).toMatchObject({ error: 'payload-too-large' })
    const bad = await submit(agents[0], { payload: 1 })
    expect(bad.status).toBe(400)
    expect(bad.body).toMatchObject({ error: 'bad-request' })
  })

  it('conclave submit prints the outcome and exits 0, or 1 with the error object; conclave tasks lists them', async () => {
    const api = `127.0.0.1:${agents[2].spec.apiPort}`
    const ok = await runCli(['submit', 'probe', '--payload', '{"cli":true}', '--id', 'cli-1', '--api', api])
    expect(ok.code, ok.stderr).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({ id: 'cli-1', node: 'node-1', type: 'probe' })
    const bad = await runCli(['submit', 'exit3', '--api', api])
    expect(bad.code).toBe(1)
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: 'handler-failed', exitCode: 3 })
    const list = await runCli(['tasks', '--json', '--api', api])
    expect(list.code, list.stderr).toBe(0)
    const ids = (JSON.parse(list.stdout) as { recent: Array<{ id: string }> }).recent.map((t) => t.id)
    expect(ids).toContain('cli-1')
  })

  it('the becomeMaster hook fired on the first master', async () => {
    await waitFor('become node-1 in the hook log', async () => lines(hooks).some((l) => l.startsWith('become node-1 ')), 15_000)
  })

  it('each agent gossips its load and status shows it for every member', async () => {
    const plugins = await waitFor(
      'load of all three members on node-3',
      async () => {
        const res = await fetch(`http://127.0.0.1:${agents[2].spec.apiPort}/v1/plugins`, { signal: AbortSignal.timeout(2_000) })
        const body = (await res.json()) as { tasks: { members: Array<{ id: string; load: { capacity: number } | null }> } }
        return body.tasks.members.length === 3 && body.tasks.members.every((m) => m.load !== null) ? body : false
      },
      20_000,
    )
    expect(plugins.tasks.members.map((m) => m.load!.capacity)).toEqual([24, 24, 24])
    const st = await runCli(['status', '--api', `127.0.0.1:${agents[2].spec.apiPort}`])
    expect(st.code, st.stderr).toBe(0)
    const section = st.stdout.slice(st.stdout.indexOf('task load'))
    for (const id of ['node-1', 'node-2', 'node-3']) expect(section).toMatch(new RegExp(`^${id}\\s+\\d+\\s+\\d+\\s+24\\s`, 'm'))
  })

  it('SIGKILL of the master during a long masterOnly task: the result comes from the new master with attempt 2', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const [node1, node2] = agents
    const pending = submit(node2, { type: 'slow', id: 'failover-1', timeoutMs: 60_000 }, '', 90_000)
    await waitFor('failover-1 to start on node-1', async () => runsOf('failover-1').some((p) => p[0] === 'node-1'), 20_000, 50)
    node1.signal('SIGKILL')
    const r = await pending
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body).toMatchObject({ id: 'failover-1', node: 'node-2', attempt: 2, result: 'slow done' })
    const runs2 = runsOf('failover-1')
    expect(runs2.map((p) => [p[0], p[2]])).toEqual([['node-1', '1'], ['node-2', '2']])
    // The new master ran it under a higher term than the old one: the fencing token moved on.
    expect(Number(runs2[1][3])).toBeGreaterThan(Number(runs2[0][3]))
    newMasterTerm = Number(runs2[1][3])
  }, 90_000)

  it('the becomeMaster hook fired on the new master too', async () => {
    expect(newMasterTerm).toBeGreaterThan(0)
    await waitFor(`become node-2 ${newMasterTerm} in the hook log`, async () => lines(hooks).includes(`become node-2 ${newMasterTerm}`), 15_000)
    // node-2 was never master before: its only becomeMaster is the failover.
    expect(lines(hooks).filter((l) => l.startsWith('become node-2 '))).toEqual([`become node-2 ${newMasterTerm}`])
  })

  it('an async task accepted with 202 survives a SIGKILL and restart of its agent', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const node3 = agents[2]
    const r = await submit(node3, { type: 'later', id: 'async-1', payload: { n: 1 } }, '?async=1')
    expect(r.status).toBe(202)
    expect(r.body).toEqual({ id: 'async-1' })
    await waitFor('async-1 to start on node-3', async () => runsOf('async-1').length >= 1, 15_000, 50)
    node3.signal('SIGKILL')
    await node3.exited
    const again = new AgentProc(node3.spec)
    cluster.agents.push(again)
    agents[2] = again
    const done = await waitFor(
      'async-1 to succeed after the restart',
      async () => {
        const t = await getTask(again, 'async-1')
        return t && t.body.state === 'succeeded' ? t : false
      },
      60_000,
    )
    expect(done.body).toMatchObject({ id: 'async-1', state: 'succeeded', attempt: 2, node: 'node-3' })
    expect((done.body.outcome as { result: unknown }).result).toEqual({ done: 'node-3', attempt: 2 })
  }, 90_000)

  it('without quorum a masterOnly task fails at its deadline with the explicit reason', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const [, node2, node3] = agents
    node3.signal('SIGKILL')
    await node3.exited
    await waitFor('node-2 without quorum', async () => {
      const s = await node2.status()
      return s !== null && !s.quorum.has && stateOf(s, 'node-3')?.state === 'dead'
    }, 30_000)
    const started = performance.now()
    const r = await submit(node2, { type: 'probe', id: 'noquorum-1', timeoutMs: 3_000 }, '', 30_000)
    expect(r.status).toBe(503)
    expect(r.body).toMatchObject({ id: 'noquorum-1', error: 'no-master' })
    expect(r.body.detail).toMatch(/^no master: 1 of 3 voting members visible, 2 needed/)
    // It waited for a master up to the deadline (not a timed assertion of speed: only that it did wait).
    expect(performance.now() - started).toBeGreaterThanOrEqual(2_900)
    expect(runsOf('noquorum-1')).toHaveLength(0)
    // node-2 lost its majority with node-3: its stopMaster hook fired (the old master's side of the hooks).
    await waitFor('stop node-2 in the hook log', async () => lines(hooks).some((l) => l.startsWith('stop node-2 ')), 15_000)
  }, 60_000)
})

describe('task config errors', () => {
  it('a bad tasks or on field stops the agent with exit 2 and one line naming the field', async () => {
    const bad = join(dir, 'bad-tasks.json')
    writeFileSync(bad, JSON.stringify({ tasks: { x: { command: ['true'], timeoutMs: -5 } } }))
    const base = ['agent', '--id', 'bad', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--data-dir', join(dir, 'bad')]
    const r = await runCli([...base, '--config', bad])
    expect(r.code).toBe(2)
    expect(r.stderr.trim()).toBe('conclave: config error: tasks.x.timeoutMs: expected a positive integer')
    writeFileSync(bad, JSON.stringify({ on: { memberJoin: [{ command: ['true'], timeoutMs: 'soon' }] } }))
    const r2 = await runCli([...base, '--config', bad])
    expect(r2.code).toBe(2)
    expect(r2.stderr.trim().split('\n')).toHaveLength(1)
    expect(r2.stderr).toMatch(/^conclave: config error: on\.memberJoin/)
  })
})
