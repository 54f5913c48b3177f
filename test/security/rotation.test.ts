// Key rotation on real agents, as docs/security.md describes it: three steps, each a change of the key file and a
// SIGHUP, without a restart. Through all of it the cluster keeps its master and term; after it, a newcomer with
// only the new key joins and one with only the old key is refused.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Cluster, runCli, waitFor, type AgentProc } from '../integration/harness.ts'

const cluster = new Cluster()
afterAll(async () => {
  await cluster.destroy()
})

async function keyText(): Promise<string> {
  const r = await runCli(['keygen'])
  expect(r.code).toBe(0)
  return r.stdout
}

describe('cluster key rotation without downtime', () => {
  it('add, switch, drop: master and term unchanged, new connections follow the files', async () => {
    const [oldKey, newKey] = [await keyText(), await keyText()]
    const agents: AgentProc[] = []
    const files: string[] = []
    for (const id of ['node-1', 'node-2']) {
      const keyFile = join(cluster.dir, `${id}.key`)
      const configFile = join(cluster.dir, `${id}.json`)
      writeFileSync(keyFile, oldKey, { mode: 0o600 })
      writeFileSync(configFile, JSON.stringify({ clusterKeyFile: keyFile }))
      files.push(keyFile)
      const boot = agents[0] ? [`/ip4/127.0.0.1/tcp/${agents[0].spec.p2pPort}`] : []
      agents.push(await cluster.spawn(id, boot, ['--config', configFile, '--expect', '2']))
    }
    const agreed = async () => {
      const all = await Promise.all(agents.map((a) => a.status()))
      if (all.some((s) => !s?.master || s.members.filter((m) => m.state === 'alive').length !== agents.length)) return null
      const views = new Set(all.map((s) => `${s!.master!.id}/${s!.master!.term}`))
      return views.size === 1 ? [...views][0] : null
    }
    const before = await waitFor('two keyed agents agree on a master', agreed, 60_000)
    let steps = 0
    const step = async (text: string) => {
      steps++
      for (const f of files) writeFileSync(f, text, { mode: 0o600 })
      for (const a of agents) a.signal('SIGHUP')
      await waitFor(`reload ${steps} on every agent`, async () => agents.every((a) => a.stderr.split('cluster keys reloaded').length - 1 === steps), 10_000)
      expect(await agreed()).toBe(before)
    }
    await step(`${oldKey}${newKey}`) // 1: accept the new key, still dial the old one
    await step(`${newKey}${oldKey}`) // 2: dial the new key
    await step(newKey) // 3: drop the old key
    expect(readFileSync(files[0], 'utf8')).toBe(newKey)

    // New connections use the new key only.
    const newcomerKey = join(cluster.dir, 'newcomer.key')
    writeFileSync(newcomerKey, newKey, { mode: 0o600 })
    const boot = [`/ip4/127.0.0.1/tcp/${agents[0].spec.p2pPort}`]
    const newcomer = await cluster.spawn('node-3', boot, ['--cluster-key-file', newcomerKey, '--expect', '1'])
    agents.push(newcomer)
    await waitFor('the newcomer with the new key to join', agreed, 60_000)
    const stale = join(cluster.dir, 'stale.key')
    writeFileSync(stale, oldKey, { mode: 0o600 })
    const straggler = await cluster.spawn('node-4', boot, ['--cluster-key-file', stale, '--expect', '1'])
    await waitFor('node-1 to refuse the old key', async () => /conclave_cluster_key_refused_total\{reason="wrong-key"\} [1-9]/.test(await agents[0].metrics()), 20_000)
    const s = (await agents[0].status())!
    expect(s.members.map((m) => m.id).sort()).toEqual(['node-1', 'node-2', 'node-3'])
    expect((await straggler.status())!.members.map((m) => m.id)).toEqual(['node-4'])
    expect(await agreed()).toBe(before) // same master and term from the first agreement to the end
  }, 150_000)
})
