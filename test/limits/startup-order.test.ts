// What is on disk is checked before an agent opens any port (src/agent/agent.ts start-up order): a damaged task
// journal or state file stops it with exit 2 and one line, and it never joins the cluster, even for a moment.
// Real agents on 127.0.0.1.
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LOCK_FILE } from '../../src/agent/datadir-lock.ts'
import { AgentProc, Cluster, freePorts, stateOf, waitFor } from '../integration/harness.ts'

const cluster = new Cluster()
afterAll(() => cluster.destroy())

describe('start-up order: the data dir is checked before the network', () => {
  it('a corrupt journal, or a truncated state file, stops the agent with exit 2 before it opens a port or joins', async () => {
    const n1 = await cluster.spawn('node-1', [])
    await waitFor('node-1 up', () => n1.status())
    const boot = `/ip4/127.0.0.1/tcp/${n1.spec.p2pPort}`

    // A node-2 that ran once (state file and journal written), stopped cleanly.
    const n2 = await cluster.spawn('node-2', [boot])
    await waitFor('node-1 sees node-2', async () => stateOf((await n1.status())!, 'node-2')?.state === 'alive')
    n2.signal('SIGTERM')
    expect((await n2.exited).code).toBe(0)
    await waitFor('node-1 sees node-2 left', async () => stateOf((await n1.status())!, 'node-2')?.state === 'left')

    const cases: Array<[string, () => void, RegExp]> = [
      [
        'journal',
        () => writeFileSync(join(n2.spec.dataDir, 'tasks.sqlite'), 'this is not a database, it was overwritten by mistake\n'.repeat(100)),
        new RegExp(`^conclave: task journal ${join(n2.spec.dataDir, 'tasks.sqlite')} is unusable \\(.*\\); the agent does not start on it\\. Way out: .*move .* aside`),
      ],
      [
        'state file',
        () => writeFileSync(join(n2.spec.dataDir, 'state.json'), '{"format":2,"checksum":"'),
        new RegExp(`^conclave: state file ${join(n2.spec.dataDir, 'state.json')} is not valid JSON \\(truncated or corrupt\\).*To recover, move it aside`),
      ],
    ]
    for (const [what, damage, message] of cases) {
      damage()
      const [p2p, api] = await freePorts(2)
      const b = new AgentProc({ ...n2.spec, p2pPort: p2p, apiPort: api })
      cluster.agents.push(b)
      const exit = await b.exited
      expect(exit.code, `${what}: ${b.stderr}`).toBe(2)
      const lines = b.stderr.trim().split('\n')
      expect(lines.at(-1), what).toMatch(message)
      // Never listening, never a member: no start line, and node-1 still holds node-2 as left.
      expect(b.stderr, what).not.toMatch(/listening/)
      expect(stateOf((await n1.status())!, 'node-2')?.state, what).toBe('left')
      // The lock is released on the way out (no stale lock left for the next start to take over).
      expect(existsSync(join(n2.spec.dataDir, LOCK_FILE)), what).toBe(false)
    }
  }, 60_000)
})
