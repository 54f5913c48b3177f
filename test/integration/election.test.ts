// Real agents on 127.0.0.1 started exactly as README.md tells a user ("Several agents on one host": no --expect, no
// extra flags): restart after a leave, failover right after convergence, two voters lost at once, SIGHUP reload.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it, onTestFailed } from 'vitest'
import type { StatusView } from '../../src/agent/types.ts'
import { AgentProc, Cluster, runCli, waitFor } from './harness.ts'

let cluster: Cluster
afterEach(async () => {
  await cluster?.destroy()
}, 30_000)

async function statuses(agents: AgentProc[]): Promise<(StatusView | null)[]> {
  return Promise.all(agents.map((a) => a.status()))
}

/** Every agent answers, all name `master`, and each sees the others alive. */
async function converged(agents: AgentProc[], master: string, timeoutMs = 40_000): Promise<StatusView[]> {
  return waitFor(
    `all of ${agents.map((a) => a.id).join(',')} name master ${master}`,
    async () => {
      const st = await statuses(agents)
      const ok = st.every(
        (s) => s !== null && s.master?.id === master && agents.every((a) => s.members.find((m) => m.id === a.id)?.state === 'alive'),
      )
      const terms = new Set(st.map((s) => s?.master?.term))
      return ok && terms.size === 1 ? (st as StatusView[]) : false
    },
    timeoutMs,
  )
}

/** Agents started as README's "Several agents on one host": the first alone, the others bootstrapping to it. */
async function readmeAgents(ids: string[]): Promise<AgentProc[]> {
  const first = await cluster.spawn(ids[0]!, [])
  const seed = `/ip4/127.0.0.1/tcp/${first.spec.p2pPort}`
  const agents = [first]
  for (const id of ids.slice(1)) agents.push(await cluster.spawn(id, [seed]))
  return agents
}

const FIVE = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5']

/** Samples who claims the master role under which term; fails on two different nodes under one term. */
class MastershipLog {
  private readonly byTerm = new Map<number, string>()
  readonly clashes: string[] = []
  record(st: (StatusView | null)[]): void {
    for (const s of st) {
      if (!s || s.role !== 'master' || !s.master) continue
      const holder = this.byTerm.get(s.master.term)
      if (holder !== undefined && holder !== s.id) this.clashes.push(`term ${s.master.term}: ${holder} and ${s.id}`)
      this.byTerm.set(s.master.term, s.id)
    }
  }
}

describe('the defaults a user runs', () => {
  it("README's example: node-1 leaves and restarts with the same command; one master per term, node-1 again under a higher term", async () => {
    cluster = new Cluster()
    onTestFailed(() => console.error(cluster.logs()))
    const [n1, n2, n3] = (await readmeAgents(['node-1', 'node-2', 'node-3'])) as [AgentProc, AgentProc, AgentProc]
    const before = await converged([n1, n2, n3], 'node-1')
    expect(new Set(before.map((s) => s.clusterId)).size).toBe(1)
    const log = new MastershipLog()

    n1.signal('SIGTERM')
    await n1.exited
    const mid = await converged([n2, n3], 'node-2')
    log.record(mid)
    const t0 = performance.now()
    while (performance.now() - t0 < 4_000) {
      log.record(await statuses([n2, n3]))
      await new Promise((r) => setTimeout(r, 200))
    }
    // Same command, same data dir, no --bootstrap: it rejoins the peers it stored.
    const again = await cluster.respawn(n1)
    const deadline = performance.now() + 40_000
    let final: StatusView[] | null = null
    while (performance.now() < deadline) {
      const st = await statuses([again, n2, n3])
      log.record(st)
      if (st.every((s) => s?.master?.id === 'node-1') && new Set(st.map((s) => s!.master!.term)).size === 1) {
        final = st as StatusView[]
        break
      }
      await new Promise((r) => setTimeout(r, 150))
    }
    expect(log.clashes).toEqual([])
    expect(final, 'node-1 is master again everywhere').not.toBeNull()
    expect(final![0].master!.term).toBeGreaterThan(mid[0].master!.term)
    expect(new Set(final!.map((s) => s.clusterId))).toEqual(new Set([before[0].clusterId]))
  }, 120_000)

  it('five agents (ids node-10, node-2, node-11, node-3, node-4): killing the master right after convergence fails over', async () => {
    cluster = new Cluster()
    onTestFailed(() => console.error(cluster.logs()))
    const agents = await readmeAgents(['node-10', 'node-2', 'node-11', 'node-3', 'node-4'])
    const st = await converged(agents, 'node-2')
    const term = st[0].master!.term
    await agents[1].kill()
    const rest = agents.filter((a) => a.id !== 'node-2')
    const after = await converged(rest, 'node-3', 20_000)
    expect(after[0].master!.term).toBeGreaterThan(term)
  }, 120_000)

  it('two voters killed at once five seconds after convergence still leave a master', async () => {
    cluster = new Cluster()
    onTestFailed(() => console.error(cluster.logs()))
    const agents = await readmeAgents(FIVE)
    await converged(agents, 'node-1')
    await new Promise((r) => setTimeout(r, 5_000))
    const st = await converged(agents, 'node-1', 5_000)
    expect(st[0].voters.length).toBe(5)
    await Promise.all([agents[0].kill(), agents[1].kill()])
    await converged(agents.slice(2), 'node-3', 20_000)
  }, 120_000)

  it('conclave recover: refused while a majority of the voters is visible; after three of five are lost, the survivors elect a master', async () => {
    cluster = new Cluster()
    onTestFailed(() => console.error(cluster.logs()))
    const agents = await readmeAgents(FIVE)
    await converged(agents, 'node-1')
    const api = `127.0.0.1:${agents[3].spec.apiPort}`
    const refused = await runCli(['recover', '--voters', 'node-4,node-5', '--api', api])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/the cluster has its majority, recovery is refused/)
    await Promise.all(agents.slice(0, 3).map((a) => a.kill()))
    await waitFor('the survivors see the three dead and no master', async () =>
      (await statuses(agents.slice(3))).every((s) => s !== null && s.master === null && s.quorum.visible === 2), 30_000)
    const ok = await runCli(['recover', '--voters', 'node-4,node-5', '--api', api])
    expect(ok.code, ok.stderr).toBe(0)
    const after = await converged(agents.slice(3), 'node-4', 20_000)
    expect(after[0].voters).toEqual(['node-4', 'node-5'])
    expect(after[0].master!.term).toBeGreaterThan(1000)
  }, 120_000)

  it('SIGHUP reloads the config file; a bad file is refused and the agent keeps running', async () => {
    cluster = new Cluster()
    onTestFailed(() => console.error(cluster.logs()))
    const file = join(cluster.dir, 'conclave.json')
    writeFileSync(file, JSON.stringify({ logLevel: 'info', probeIntervalMs: 500 }))
    const a = await cluster.spawn('node-1', [], ['--config', file])
    await converged([a], 'node-1')
    // (The harness passes --log-level and --listen as flags, which override the file, as they would for a user.)
    writeFileSync(file, JSON.stringify({ probeIntervalMs: 450, quorum: 'none' }))
    a.signal('SIGHUP')
    await waitFor('reload logged', async () => /config reloaded from .*quorum changed: takes effect after a restart/.test(a.stderr), 10_000)
    writeFileSync(file, '{ "probeIntervalMs": -1 }')
    a.signal('SIGHUP')
    await waitFor('refusal logged', async () => /config reload refused, keeping the running config: config error: probeIntervalMs/.test(a.stderr), 10_000)
    expect(a.exit).toBeNull()
    expect((await a.status())?.master?.id).toBe('node-1')
    expect(readFileSync(file, 'utf8')).toContain('-1')
  }, 60_000)
})
