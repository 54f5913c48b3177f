// A copy of a data dir (same node key) started as a second process is refused network-wide (core/twin.ts): one of
// the two exits 2 and names its data dir; a restart of one agent on another port (same data dir) is no twin.
// Real agents on 127.0.0.1.
import { cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LOCK_FILE } from '../../src/agent/datadir-lock.ts'
import { type AgentProc, Cluster, freePorts, stateOf, waitFor } from '../integration/harness.ts'

const cluster = new Cluster()
afterAll(() => cluster.destroy())

const addr = (a: AgentProc) => `/ip4/127.0.0.1/tcp/${a.spec.p2pPort}`
const alive = (a: AgentProc, id: string, port: number) => async () => {
  const m = stateOf((await a.status())!, id)
  return m?.state === 'alive' && m.addrs.some((x) => x.includes(`/tcp/${port}`)) && m
}

describe('twin agents (a copied data dir)', () => {
  it('a copy started beside the original: one exits 2 naming its data dir, the other stays; a restart on another port is no twin', async () => {
    const n1 = await cluster.spawn('node-1', [])
    await waitFor('node-1 up', () => n1.status())
    const n2 = await cluster.spawn('node-2', [addr(n1)])
    await waitFor('node-1 sees node-2', alive(n1, 'node-2', n2.spec.p2pPort)).catch(async (e) => {
      throw new Error(`${e}: ${JSON.stringify(await n1.status())}`)
    })

    // The copy: the whole data dir (node key, state, journal). A copy on the same host would also be caught by the
    // data dir lock's pid check; a copy on another host is not, so the lock file is left out here.
    const copyDir = join(cluster.dir, 'node-2-copy')
    cpSync(n2.spec.dataDir, copyDir, { recursive: true })
    rmSync(join(copyDir, LOCK_FILE), { force: true })
    const [p2p, api] = await freePorts(2)
    const copy = cluster.start({ ...n2.spec, p2pPort: p2p, apiPort: api, dataDir: copyDir, bootstrap: [addr(n1)] })

    const first = await Promise.race([n2.exited.then(() => n2), copy.exited.then(() => copy), new Promise<null>((r) => setTimeout(() => r(null), 30_000))])
    expect(first, cluster.logs()).not.toBeNull()
    const stopped = first!
    const survivor = stopped === n2 ? copy : n2
    expect(stopped.exit!.code).toBe(2)
    const line = stopped.stderr.trim().split('\n').pop()!
    expect(line).toMatch(/^conclave: another process runs with this node's key \(peer 12D3\w+, node id "node-2", at \/ip4\/127\.0\.0\.1\/tcp\/\d+/)
    expect(line).toContain(`this agent (data dir ${stopped.spec.dataDir}) stops`)
    expect(line).toContain('start it with an empty --data-dir')
    // The other one keeps its place: node-1 reaches it, it is not told to stop.
    await waitFor('node-1 sees the survivor', alive(n1, 'node-2', survivor.spec.p2pPort), 20_000)
    await new Promise((r) => setTimeout(r, 2_000))
    expect(survivor.exit).toBeNull()

    // A plain restart after a crash, on another port, same data dir: node-1 still holds the old process's claim as
    // alive when the new one arrives, with another boot nonce, and must not take it for a twin.
    await survivor.kill()
    const [p2p2, api2] = await freePorts(2)
    const again = cluster.start({ ...survivor.spec, p2pPort: p2p2, apiPort: api2, bootstrap: [addr(n1)] })
    await waitFor('node-1 sees the restarted node-2 on its new port', alive(n1, 'node-2', p2p2), 20_000)
    await new Promise((r) => setTimeout(r, 3_000))
    expect(again.exit, again.stderr).toBeNull()
    expect(again.stderr).not.toMatch(/another process runs with this node's key/)
  }, 90_000)
})
