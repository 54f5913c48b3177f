// Attackers against real agents on 127.0.0.1 (issue 9): a keyed cluster of three, then
//   - outsiders: an agent without the key and one with another key try to join (as id "0", which would be master);
//   - an insider: a libp2p node that holds the key (src/net + the core's codec) forges every kind of message.
// Each time: refused or dropped, counted in /metrics, and the cluster unchanged (same master, same term, nobody
// evicted, no foreign member).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from 'it-length-prefixed-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StatusView } from '../../src/agent/types.ts'
import { encodeMessage } from '../../src/core/codec.ts'
import type { Message } from '../../src/core/types.ts'
import { clusterKeyProtector, KeyRing, readKeyFile } from '../../src/net/cluster-key.ts'
import { buildNode, type Node } from '../../src/net/node.ts'
import { DIRECT_PROTOCOL, MEMBERSHIP_TOPIC } from '../../src/net/shell.ts'
import { loadConfig } from '../../src/config/load.ts'
import { startProblem } from '../../src/security/agent-security.ts'
import { Cluster, runCli, waitFor, type AgentProc } from '../integration/harness.ts'

const cluster = new Cluster()
let agents: AgentProc[] = []
let keyFile = ''
let before: { master: string; term: number }

const FAST = ['--expect', '3']

/** One value of a Prometheus counter, summed over the label sets matching `labels`. */
function counter(text: string, name: string, labels = ''): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    if (labels && !line.includes(labels)) continue
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

async function statuses(): Promise<StatusView[]> {
  return Promise.all(agents.map(async (a) => (await a.status())!))
}

/** Same master and term everywhere, the three honest members alive, nobody else in anyone's view. */
async function expectUnchanged(): Promise<void> {
  const all = await statuses()
  for (const s of all) {
    expect(s.master, `${s.id}'s master`).toEqual({ id: before.master, term: before.term })
    expect(s.members.map((m) => `${m.id}:${m.state}`).sort(), `${s.id}'s members`).toEqual(['node-1:alive', 'node-2:alive', 'node-3:alive'])
    expect(s.keyed).toBe(true)
  }
}

beforeAll(async () => {
  keyFile = join(cluster.dir, 'cluster.key')
  const kg = await runCli(['keygen', '--out', keyFile])
  expect(kg.code, kg.stderr).toBe(0)
  const key = ['--cluster-key-file', keyFile, ...FAST]
  const a1 = await cluster.spawn('node-1', [], key)
  const boot = `/ip4/127.0.0.1/tcp/${a1.spec.p2pPort}`
  agents = [a1, await cluster.spawn('node-2', [boot], key), await cluster.spawn('node-3', [boot], key)]
  await waitFor(
    'one master seen by all three',
    async () => {
      const all = await Promise.all(agents.map((a) => a.status()))
      if (all.some((s) => !s || s.master === null || s.members.filter((m) => m.state === 'alive').length !== 3)) return null
      return new Set(all.map((s) => `${s!.master!.id}/${s!.master!.term}`)).size === 1
    },
    60_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${cluster.logs()}`)
  })
  const s = (await agents[0].status())!
  before = { master: s.master!.id, term: s.master!.term }
}, 90_000)

afterAll(async () => {
  await cluster.destroy()
})

describe('outsiders', () => {
  it('an agent without the key, and one with another key, are refused; the cluster is unchanged', async () => {
    const boot = `/ip4/127.0.0.1/tcp/${agents[0].spec.p2pPort}`
    const plain = await cluster.spawn('0', [boot], ['--expect', '1'])
    const otherKey = join(cluster.dir, 'other.key')
    expect((await runCli(['keygen', '--out', otherKey])).code).toBe(0)
    const wrong = await cluster.spawn('00', [boot], ['--cluster-key-file', otherKey, '--expect', '1'])
    await waitFor('node-1 to count both refusals', async () => {
      const m = await agents[0].metrics()
      return counter(m, 'conclave_cluster_key_refused_total', 'reason="wrong-key"') > 0 && counter(m, 'conclave_cluster_key_refused_total', 'reason="no-handshake"') > 0
    })
    // Give them time to try (bootstrap retries every second), then check nothing got through.
    await new Promise((r) => setTimeout(r, 3_000))
    await expectUnchanged()
    for (const o of [plain, wrong]) {
      const s = (await o.status())!
      expect(s.members.map((m) => m.id), `${o.id}'s view`).toEqual([o.id])
    }
    expect((await plain.status())!.keyed).toBe(false)
    const m = await agents[0].metrics()
    expect(m).toMatch(/^conclave_cluster_keyed 1$/m)
    // Logged once per remote address with the reason, however often it retried.
    const lines = agents[0].stderr.split('\n').filter((l) => l.includes('refused a connection from /ip4/127.0.0.1'))
    expect(lines.length).toBe(1)
    expect(agents[0].stderr).toMatch(/wrong cluster key|no cluster key proof|before sending a cluster key proof/)
    await plain.kill()
    await wrong.kill()
  }, 60_000)
})

describe('an insider with the key', () => {
  let insider: Node

  beforeAll(async () => {
    insider = await buildNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: '/ip4/127.0.0.1/tcp/0',
      bootstrapWithPeerId: [],
      mdns: false,
      connectionProtector: clusterKeyProtector(new KeyRing(readKeyFile(keyFile))),
    })
    await insider.start()
    insider.services.pubsub.subscribe(MEMBERSHIP_TOPIC)
  })

  afterAll(async () => {
    await insider?.stop()
  })

  it('forges every kind of message: each is dropped and counted, the cluster is unchanged', async () => {
    const all = await statuses()
    const byId = new Map(all.map((s) => [s.id, s]))
    const master = before.master
    const voter = all.find((s) => s.id !== master)!.id
    const other = all.find((s) => s.id !== master && s.id !== voter)!.id
    const term = before.term
    const cluster = all[0].clusterId!
    const inc = (id: string) => byId.get(id)!.members.find((m) => m.id === id)!.incarnation
    const member = (id: string) => ({ id, peer: byId.get(id)!.peerId, addrs: byId.get(id)!.addrs })
    const HUGE = Number.MAX_SAFE_INTEGER
    const fakeSig = new Uint8Array(64).fill(7)

    const forged: Message[] = [
      // Speaking for the master: give up its leases, remove a member, leave.
      { t: 'lease-release', from: master, term },
      { t: 'remove', from: master, id: other },
      { t: 'leave', from: other, incarnation: inc(other) + 1 },
      // Speaking for a voter: grant a lease to the insider's candidate term.
      { t: 'lease-ack', from: voter, seq: 1, cluster, term: term + 1, granted: true, durationMs: 60_000, maxTerm: term + 1, configVersion: 1 },
      // Role messages from an id nobody knows (a voter the insider made up).
      { t: 'lease-ack', from: 'fake-0', seq: 1, cluster, term: term + 1, granted: true, durationMs: 60_000, maxTerm: term + 1, configVersion: 1 },
      { t: 'remove', from: 'fake-0', id: other },
      // Claims about others: dead far above their incarnation (eviction), unsigned and with a made-up signature.
      { t: 'updates', from: 'zz-insider', updates: [{ ...member(other), incarnation: HUGE, state: 'dead', by: voter }] },
      { t: 'updates', from: 'zz-insider', updates: [{ ...member(master), incarnation: inc(master), state: 'dead', by: voter, sig: fakeSig } as never] },
      { t: 'ping', seq: 1, from: 'zz-insider', gossip: [{ ...member(voter), incarnation: inc(voter) + 1, state: 'suspect', by: other }] },
      // Terms far above anything seen: pin every node's term (the 2^53 attack).
      { t: 'sync', from: 'zz-insider', reply: true, members: [], cluster, config: null, maxTerm: HUGE },
      { t: 'ping', seq: 2, from: 'zz-insider', gossip: [], cluster, master: { id: 'zz-insider', term: 2 ** 45, ms: 60_000 } },
      // Fake voters: a config with more voters than the cap, under the current term.
      { t: 'sync', from: 'zz-insider', reply: true, members: [], cluster, config: { version: 99, term, voters: Array.from({ length: 9 }, (_, i) => `fake-${i}`) }, maxTerm: term },
      // R7: another member named master one term up (unsigned, and with a made-up signature), and a config of real
      // members in the master's name that the master did not sign.
      { t: 'ping', seq: 3, from: 'zz-insider', gossip: [], cluster, master: { id: other, term: term + 1, ms: 60_000 } },
      { t: 'ping', seq: 4, from: 'zz-insider', gossip: [], cluster, master: { id: other, term: term + 1, ms: 60_000, sig: fakeSig } },
      { t: 'sync', from: 'zz-insider', reply: true, members: [], cluster, config: { version: 98, term, voters: [master, voter], by: master, sig: fakeSig }, maxTerm: term },
    ]
    const metricsBefore = await Promise.all(agents.map((a) => a.metrics()))
    for (const target of all) {
      const pid = peerIdFromString(target.peerId)
      await insider.peerStore.merge(pid, { multiaddrs: target.addrs.map((a) => multiaddr(a).decapsulateCode(421)) })
      const stream = await insider.dialProtocol(pid, DIRECT_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
      const lp = lpStream(stream)
      for (const msg of forged) await lp.write(encodeMessage(msg))
      await stream.close()
    }
    // And on the broadcast channel, which every member reads.
    await waitFor('the insider to see subscribers', async () => insider.services.pubsub.getSubscribers(MEMBERSHIP_TOPIC).length > 0, 10_000)
    for (const msg of forged.filter((m) => m.t === 'updates')) await insider.services.pubsub.publish(MEMBERSHIP_TOPIC, encodeMessage(msg))

    await waitFor('every agent to count the forgeries', async () => {
      const ms = await Promise.all(agents.map((a) => a.metrics()))
      return ms.every((m, i) => counter(m, 'conclave_untrusted_messages_dropped_total') - counter(metricsBefore[i], 'conclave_untrusted_messages_dropped_total') >= 8)
    }, 15_000)
    // Let anything that slipped through take effect: a lease runs out, a suspicion times out.
    await new Promise((r) => setTimeout(r, 5_000))
    await expectUnchanged()
    const m = await agents.find((a) => a.id === other)!.metrics()
    for (const rule of ['impersonation', 'unknown-sender', 'unsigned', 'bad-signature', 'term-jump', 'bad-config', 'forged-claim']) {
      expect(counter(m, 'conclave_untrusted_messages_dropped_total', `rule="${rule}"`), rule).toBeGreaterThan(0)
    }
    for (const s of await statuses()) {
      const info = (await (await fetch(`http://127.0.0.1:${agents.find((a) => a.id === s.id)!.spec.apiPort}/v1/info`)).json()) as { maxTerm: number }
      expect(info.maxTerm, `${s.id}'s maxTerm`).toBe(before.term)
    }
  }, 60_000)
})

describe('the API', () => {
  it('mutations need the CLI header or the token; reads stay open', async () => {
    const api = `http://127.0.0.1:${agents[2].spec.apiPort}`
    // A cross-origin page can POST a "simple" request, without custom headers: refused.
    const bare = await fetch(`${api}/v1/leave`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })
    expect(bare.status).toBe(401)
    expect((await fetch(`${api}/v1/status`)).status).toBe(200)
    const removeUnknown = await runCli(['remove', 'nobody', '--api', `127.0.0.1:${agents[2].spec.apiPort}`])
    // The CLI's request got through the auth check and reached the route (which refuses an unknown member).
    expect(removeUnknown.stderr).toMatch(/unknown member/)
    await expectUnchanged()
  }, 30_000)

  it('an agent with a token: the header alone is refused, the token from the environment or a file works', async () => {
    const tokenFile = join(cluster.dir, 'api.token')
    expect((await runCli(['keygen', '--token', '--out', tokenFile])).code).toBe(0)
    const solo = await cluster.spawn('solo', [], ['--api-token-file', tokenFile, '--expect', '1'])
    await waitFor('solo to answer', async () => solo.status())
    const api = `127.0.0.1:${solo.spec.apiPort}`
    const headerOnly = await fetch(`http://${api}/v1/members/x/remove`, { method: 'POST', headers: { 'x-conclave-client': 'cli' } })
    expect(headerOnly.status).toBe(401)
    const wrong = await fetch(`http://${api}/v1/members/x/remove`, { method: 'POST', headers: { authorization: 'Bearer not-the-token-at-all' } })
    expect(wrong.status).toBe(401)
    const noToken = await runCli(['remove', 'x', '--api', api])
    expect(noToken.stderr).toMatch(/API token/)
    const withFile = await runCli(['--token-file', tokenFile, 'remove', 'x', '--api', api])
    expect(withFile.stderr).toMatch(/unknown member/)
    const m = await solo.metrics()
    expect(counter(m, 'conclave_api_refused_total')).toBeGreaterThanOrEqual(3)
    await solo.kill()
  }, 40_000)

  it('refuses to start with the API on a non-loopback address without a token, or mDNS off loopback without a key', async () => {
    // Checked on the function the agent calls before opening any socket: a test must never bind 0.0.0.0 or run
    // mDNS in the root namespace, even if the check were broken.
    const base = loadConfig({ id: 'x', listen: '/ip4/127.0.0.1/tcp/0', api: '127.0.0.1:0', mdns: false, dataDir: '/nonexistent' })
    expect(startProblem({ ...base, api: '0.0.0.0:7947' }, true, false)).toMatch(/reachable from other hosts.*--api-token-file/)
    expect(startProblem({ ...base, api: '0.0.0.0:7947' }, true, true)).toBeNull()
    expect(startProblem({ ...base, api: '[::1]:7947' }, true, false)).toBeNull()
    expect(startProblem({ ...base, mdns: true, listen: '/ip4/0.0.0.0/tcp/7946' }, false, false)).toMatch(/mDNS discovery on \/ip4\/0\.0\.0\.0\/tcp\/7946 without a cluster key.*--insecure/)
    expect(startProblem({ ...base, mdns: true, listen: '/ip4/0.0.0.0/tcp/7946' }, true, false)).toBeNull()
    expect(startProblem({ ...base, mdns: true, listen: '/ip4/0.0.0.0/tcp/7946', insecure: true }, false, false)).toBeNull()
    expect(startProblem({ ...base, mdns: true }, false, false)).toBeNull() // loopback: nobody else can join
    const dir = join(cluster.dir, 'refusals')
    const loose = join(cluster.dir, 'loose.key')
    writeFileSync(loose, (await runCli(['keygen'])).stdout, { mode: 0o644 })
    const perms = await runCli(['agent', '--id', 'x', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--data-dir', dir, '--cluster-key-file', loose])
    expect(perms.code).toBe(2)
    expect(perms.stderr).toMatch(/readable by other users/)
  }, 60_000)
})
