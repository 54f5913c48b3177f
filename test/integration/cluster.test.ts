// Five real agent processes on 127.0.0.1 (bootstrap, no mDNS): membership, failure detection and master election.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import type { StatusView } from '../../src/agent/types.ts'
import { Cluster, runCli, stateOf, waitFor, type AgentProc } from './harness.ts'

const N = 5
const cluster = new Cluster()
let agents: AgentProc[] = []

/** Statuses of the given agents once every one of them answers, `ok` holds for each, and they name the same master and term. */
async function allSee(what: string, among: AgentProc[], ok: (s: StatusView, a: AgentProc) => boolean, timeoutMs = 30_000): Promise<StatusView[]> {
  let last: unknown
  try {
    return await waitFor(
      what,
      async () => {
        const st = await Promise.all(among.map((a) => a.status()))
        last = st.map((s) => s && { id: s.id, master: s.master, quorum: s.quorum, members: s.members.map((m) => `${m.id}:${m.state}:${m.incarnation}`).join(' ') })
        if (!st.every((s, i) => s !== null && ok(s, among[i]))) return false
        const masters = new Set(st.map((s) => JSON.stringify(s!.master)))
        return masters.size === 1 ? (st as StatusView[]) : false
      },
      timeoutMs,
    )
  } catch (e) {
    throw new Error(`${(e as Error).message}\nlast views: ${JSON.stringify(last, null, 1)}`)
  }
}

beforeAll(async () => {
  const first = await cluster.spawn('node-1', [])
  const seed = `/ip4/127.0.0.1/tcp/${first.spec.p2pPort}`
  agents = [first]
  for (let i = 2; i <= N; i++) agents.push(await cluster.spawn(`node-${i}`, [seed]))
}, 30_000)

afterAll(async () => {
  await cluster.destroy()
}, 30_000)

describe('five agents on 127.0.0.1', () => {
  it('all see 5 alive members and the same master, node-1', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const st = await allSee('5 alive and master node-1 everywhere', agents, (s) =>
      s.members.length === N && s.members.every((m) => m.state === 'alive') && s.master?.id === 'node-1' && s.quorum.voting === N && s.clusterId !== null, 45_000)
    // One cluster: everyone holds the same cluster id and voter set (all five: the cap is 5).
    expect(new Set(st.map((s) => s.clusterId)).size).toBe(1)
    for (const s of st) expect(s.voters).toEqual(agents.map((a) => a.id))
    for (const s of st) {
      expect(Object.keys(s).sort()).toEqual(['addrs', 'clusterId', 'id', 'keyed', 'master', 'members', 'peerId', 'quorum', 'role', 'voters'])
      expect(s.quorum).toEqual({ has: true, visible: 5, voting: 5, needed: 3 })
      const self = stateOf(s, s.id)!
      expect(self.peerId).toBe(s.peerId)
      expect(Object.keys(self).sort()).toEqual(['addrs', 'id', 'incarnation', 'peerId', 'since', 'state', 'tags', 'voter'])
      expect(Number.isNaN(Date.parse(self.since))).toBe(false)
    }
    const metrics = await agents[0].metrics()
    expect(metrics).toMatch(/^conclave_members\{state="alive"\} 5$/m)
    expect(metrics).toMatch(/^conclave_is_master 1$/m)
    expect(metrics).toMatch(/^conclave_messages_sent_total\{type="ping",channel="direct"\} [1-9]/m)
  }, 60_000)

  it('refuses a second agent with an id a live member holds', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const original = (await agents[2].status())!.peerId
    const seed = `/ip4/127.0.0.1/tcp/${agents[0].spec.p2pPort}`
    const dup = await cluster.spawn('node-3', [seed])
    const exit = await waitFor('the duplicate to exit', async () => dup.exit, 30_000)
    expect(exit.code).toBe(2)
    expect(dup.stderr).toContain(`conclave: node id "node-3" is already held by live member ${original}`)
    // The rightful node-3 is still alive, under its own key, in everyone's view.
    await allSee('the original node-3 alive everywhere', agents, (s) => stateOf(s, 'node-3')?.state === 'alive' && stateOf(s, 'node-3')?.peerId === original)
  }, 60_000)

  it('SIGTERM of a member: it exits 0 within 3 s and everyone records it as left', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const leaver = agents[4]
    const sent = performance.now()
    leaver.signal('SIGTERM')
    const exit = await leaver.exited
    expect(exit.code).toBe(0)
    // The agent gives itself 2.8 s before a forced exit; allow for process teardown on a loaded machine.
    expect(exit.at - sent).toBeLessThan(3_500)
    const rest = agents.slice(0, 4)
    await allSee('node-5 left everywhere, node-1 still master', rest, (s) => stateOf(s, 'node-5')?.state === 'left' && s.master?.id === 'node-1')
  }, 60_000)

  it('SIGSTOP of the master gives a new master; SIGCONT brings it back refuted and master again under a higher term', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const [master, ...others] = agents.slice(0, 4)
    const before = (await master.status())!
    const inc0 = stateOf(before, 'node-1')!.incarnation
    const term0 = before.master!.term
    master.signal('SIGSTOP')
    let st = await allSee('node-2 master and node-1 dead among the others', others, (s) =>
      s.master?.id === 'node-2' && stateOf(s, 'node-1')?.state === 'dead',
    )
    const term1 = st[0].master!.term
    expect(term1).toBeGreaterThan(term0)

    master.signal('SIGCONT')
    st = await allSee('node-1 back alive with a higher incarnation and master again', agents.slice(0, 4), (s) => {
      const m = stateOf(s, 'node-1')
      return m?.state === 'alive' && m.incarnation > inc0 && s.master?.id === 'node-1' && s.master.term > term1
    })
    expect(st).toHaveLength(4)
  }, 90_000)

  it('SIGKILL of the master gives all the others one new, agreed master', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const [master, ...others] = agents.slice(0, 4)
    const term0 = (await master.status())!.master!.term
    master.signal('SIGKILL')
    const st = await allSee('node-2 master among the others', others, (s) => s.master?.id === 'node-2' && stateOf(s, 'node-1')?.state === 'dead')
    expect(st[0].master!.term).toBeGreaterThan(term0)
  }, 60_000)

  it('the CLI shows the view, removes the dead master from the voters, and makes an agent leave', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const [, n2, n3, n4] = agents
    const api = (a: AgentProc) => `127.0.0.1:${a.spec.apiPort}`

    const human = await runCli(['status', '--api', api(n3)])
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toMatch(/^master +node-2 \(term \d+\)$/m)
    expect(human.stdout).toMatch(/^node-1 +dead /m)
    const json = await runCli(['members', '--api', api(n3), '--json'])
    expect(json.code, json.stderr).toBe(0)
    expect((JSON.parse(json.stdout) as { id: string }[]).map((m) => m.id).sort()).toEqual(['node-1', 'node-2', 'node-3', 'node-4', 'node-5'])

    // node-5 left (no vote), node-1 is dead but votes until removed: 4 voters. Removing it from a non-master leaves 3.
    const removed = await runCli(['remove', 'node-1', '--api', api(n3)])
    expect(removed.code, removed.stderr).toBe(0)
    await allSee('node-1 no longer voting', [n2, n3, n4], (s) => s.quorum.voting === 3 && s.master?.id === 'node-2')

    const left = await runCli(['leave', '--api', api(n4)])
    expect(left.code, left.stderr).toBe(0)
    expect((await n4.exited).code).toBe(0)
    await allSee('node-4 left', [n2, n3], (s) => stateOf(s, 'node-4')?.state === 'left' && s.master?.id === 'node-2')
  }, 60_000)
})
