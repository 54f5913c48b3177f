// One agent process per data dir: the lock refuses a second process (real agents on 127.0.0.1) and is taken
// over when its owner is gone (SIGKILL, a pid that no longer runs).
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DataDirLock, DataDirLockError, LOCK_FILE } from '../../src/agent/datadir-lock.ts'
import { AgentProc, Cluster, freePorts, waitFor } from '../integration/harness.ts'

const cluster = new Cluster()
const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'conclave-lock-'))
  dirs.push(d)
  return d
}
afterAll(async () => {
  await cluster.destroy()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('data dir lock (in process)', () => {
  it('refuses a second holder while the first lives, and frees the dir on release', () => {
    const dir = tmp()
    const a = DataDirLock.acquire(dir)
    expect(() => DataDirLock.acquire(dir)).toThrow(DataDirLockError)
    expect(() => DataDirLock.acquire(dir)).toThrow(new RegExp(`data dir ${dir} is in use by another conclave agent \\(pid ${process.pid}`))
    a.release()
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false)
    DataDirLock.acquire(dir).release()
  })

  it('takes over a lock whose pid no longer runs, or whose pid was reused by another process', async () => {
    const dir = tmp()
    // A pid that surely ran and is gone: a child that exited.
    const child = spawn('true')
    await new Promise((r) => child.once('exit', r))
    const lock = { pid: child.pid, host: hostname(), bootId: null, startTicks: null, since: 'then' }
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify(lock))
    const stale: string[] = []
    const l = DataDirLock.acquire(dir, (h) => stale.push(h))
    expect(stale).toEqual([`pid ${child.pid} since then`])
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid)
    l.release()
    // Our own pid with another start time: a reused pid.
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ ...lock, pid: process.pid, startTicks: 1 }))
    DataDirLock.acquire(dir).release()
  })
})

describe('data dir lock (real agents)', () => {
  it('a second agent on the same data dir exits 2 naming the data dir; after a SIGKILL of the first, a restart takes the dir', async () => {
    const first = await cluster.spawn('node-1', [])
    const firstPeer = (await waitFor('node-1 up', () => first.status(), 30_000)).peerId
    const [p2p, api] = await freePorts(2)
    const second = new AgentProc({ id: 'node-1', p2pPort: p2p, apiPort: api, dataDir: first.spec.dataDir, bootstrap: [] })
    cluster.agents.push(second)
    const exit = await second.exited
    expect(exit.code).toBe(2)
    const line = second.stderr.trim().split('\n').pop()!
    expect(line).toBe(
      `conclave: data dir ${first.spec.dataDir} is in use by another conclave agent (pid ${first.pid}, since ${JSON.parse(readFileSync(join(first.spec.dataDir, LOCK_FILE), 'utf8')).since}): ` +
        'give this agent another --data-dir (a copy of a data dir carries the same node key, so regenerate it: start from an empty data dir)',
    )
    expect(await first.status()).not.toBeNull()

    await first.kill() // SIGKILL: the lock file stays behind, its pid is gone
    expect(existsSync(join(first.spec.dataDir, LOCK_FILE))).toBe(true)
    const again = new AgentProc({ ...first.spec })
    cluster.agents.push(again)
    const st = await waitFor('restarted node-1 up', () => again.status(), 30_000)
    expect(st.peerId).toBe(firstPeer) // same data dir, same key
    expect(again.stderr).toMatch(/took over the stale data dir lock/)
    again.signal('SIGTERM')
    expect((await again.exited).code).toBe(0)
    expect(existsSync(join(first.spec.dataDir, LOCK_FILE))).toBe(false)
  })
})
