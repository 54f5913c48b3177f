// Trust rule R7 (src/core/trust.ts): relayed master claims carry the named master's signature, relayed voter
// configs their writer's; a key holder that relays either in another member's name is dropped and counted, and a
// term above ours comes from a master claim only when it is signed. The simulator's cores with Ed25519.
import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeMessage } from '../../src/core/codec.ts'
import type { Message } from '../../src/core/types.ts'
import { defaultNetwork } from '../../src/sim/network.ts'
import { World, worldOptions } from '../../src/sim/world.ts'

function convergedWorld(seed: number, nodes = 4): World {
  const world = new World(worldOptions(seed, { expect: nodes, network: { ...defaultNetwork, loss: 0, duplicate: 0 }, skew: 0 }))
  for (let i = 1; i <= nodes; i++) world.addNode(i)
  for (const n of world.nodes) world.call(0, () => world.start(n, world.nodes.filter((x) => x !== n)))
  world.runUntil(15_000)
  return world
}

describe('trust R7: master claims and configs are signed by the master that made them', () => {
  it('honest traffic is all signed: a converged cluster dropped no claim or config', () => {
    const world = convergedWorld(11)
    expect(world.checker.violations).toEqual([])
    expect(world.counters.trustDrops.get('forged-claim') ?? 0).toBe(0)
    for (const n of world.nodes) expect(n.core!.status(world.local(n)).master?.id).toBe('node-1')
  })

  it('claims leave their signature out toward peers that hold it; a restarted or paused member is never taken for a forger', () => {
    const world = convergedWorld(14, 6)
    const drops = (rule: string) => world.counters.trustDrops.get(rule as never) ?? 0
    const bytes0 = world.counters.wireBytes
    const t0 = world.now
    world.runUntil(t0 + 10_000)
    // Encoded bytes of the whole cluster: 6,400 a second when every claim carried its signature, 4,100 now.
    const perSecond = (world.counters.wireBytes - bytes0) / 10
    // The pause outlasts the restart: the paused node answers old probes of the restarted one after it resumes.
    world.pause(world.nodes[4]!)
    world.crash(world.nodes[2]!)
    world.runUntil(world.now + 2_000)
    world.restart(world.nodes[2]!, false, [world.nodes[0]!])
    world.runUntil(world.now + 3_000)
    world.resume(world.nodes[4]!)
    world.runUntil(world.now + 15_000)
    expect(world.checker.violations).toEqual([])
    expect(drops('forged-claim')).toBe(0)
    for (const n of world.nodes) expect(n.core!.status(world.local(n)).master?.id).toBe('node-1')
    expect(perSecond).toBeLessThan(5_000)
  })

  it('a key holder relaying a master claim or a config in another member\'s name is dropped and counted; the cluster is unchanged', () => {
    const world = convergedWorld(12)
    const target = world.nodes[1]! // node-2
    const core = target.core!
    const now = world.local(target)
    const before = core.status(now)
    expect(before.master?.id).toBe('node-1')
    const cluster = before.clusterId!
    const evil = world.nodes[3]!.peer // node-4, a member: it holds the cluster key and its own node key
    const fake = new Uint8Array(64).fill(7)
    const send = (m: Message) => {
      const d = decodeMessage(encodeMessage(m))
      expect(d.ok).toBe(true)
      if (d.ok) core.receive(evil, d.msg, now)
    }
    const drops = () => world.counters.trustDrops.get('forged-claim') ?? 0
    const unverified = () => world.counters.trustDrops.get('unverified-claim') ?? 0
    const d0 = drops()
    const u0 = unverified()
    // 1. node-3 named master at a term far above the real one, unsigned and with a made-up signature.
    const term = before.maxTerm + 500
    send({ t: 'ping', seq: 1, from: 'node-4', gossip: [], cluster, master: { id: 'node-3', term, ms: 1000 } })
    send({ t: 'ping', seq: 2, from: 'node-4', gossip: [], cluster, master: { id: 'node-3', term, ms: 1000, sig: fake } })
    // 2. A next config in node-1's name (the master), naming only node-4, unsigned and with a made-up signature.
    const cfg = { version: before.config!.version + 1, term: before.maxTerm, voters: ['node-4'], by: 'node-1' }
    send({ t: 'sync', from: 'node-4', reply: true, members: [], cluster, config: cfg, maxTerm: before.maxTerm })
    send({ t: 'sync', from: 'node-4', reply: true, members: [], cluster, config: { ...cfg, sig: fake }, maxTerm: before.maxTerm })
    send({ t: 'lease-ack', from: 'node-4', seq: 9, cluster, term: before.maxTerm, granted: false, durationMs: 1200, maxTerm: before.maxTerm, configVersion: cfg.version, config: { ...cfg, sig: fake } })
    // The unsigned claim is not taken either; it counts apart, since an honest peer sends one right after a restart.
    expect(drops() - d0).toBe(4)
    expect(unverified() - u0).toBe(1)
    // 3. R6 at the same version: a config of our version with a higher term (V3 would adopt it) stuffed with
    // twelve fake voters (sim hostile seed 12 found it passing unchecked).
    const bad0 = world.counters.trustDrops.get('bad-config') ?? 0
    send({ t: 'sync', from: 'node-4', reply: true, members: [], cluster, config: { version: before.config!.version, term: before.maxTerm + 1, voters: Array.from({ length: 12 }, (_, i) => `fake-${i}`) }, maxTerm: before.maxTerm })
    expect((world.counters.trustDrops.get('bad-config') ?? 0) - bad0).toBe(1)
    const after = core.status(now)
    expect(after.master).toEqual(before.master)
    expect(after.maxTerm).toBe(before.maxTerm)
    expect(after.config!.voters).toEqual(before.config!.voters)
    expect(after.config!.version).toBe(before.config!.version)
    // The cluster runs on as before.
    world.runUntil(world.now + 5_000)
    expect(world.checker.violations).toEqual([])
    for (const n of world.nodes) expect(n.core!.status(world.local(n)).master?.id).toBe('node-1')
  })

  it('a member without a vote cannot raise terms with its state exchanges or lease acks', () => {
    const world = convergedWorld(13, 6)
    const target = world.nodes[1]! // node-2, a voter
    const core = target.core!
    const now = world.local(target)
    const before = core.status(now)
    expect(before.config!.voters).toHaveLength(5)
    const outsider = world.nodes.find((n) => !before.config!.voters.includes(n.id))!
    const cluster = before.clusterId!
    const send = (m: Message) => {
      const d = decodeMessage(encodeMessage(m))
      if (d.ok) core.receive(outsider.peer, d.msg, now)
    }
    send({ t: 'sync', from: outsider.id, reply: true, members: [], cluster, config: null, maxTerm: before.maxTerm + 500 })
    send({ t: 'lease-ack', from: outsider.id, seq: 1, cluster, term: before.maxTerm, granted: false, durationMs: 1200, maxTerm: before.maxTerm + 500, configVersion: before.config!.version, reason: 'not-voter' })
    expect(core.status(now).maxTerm).toBe(before.maxTerm)
    // A voter's does count (within the R5 bound): that is how terms travel.
    const voter = world.nodes.find((n) => n !== target && before.config!.voters.includes(n.id))!
    core.receive(voter.peer, { t: 'sync', from: voter.id, reply: true, members: [], cluster, config: null, maxTerm: before.maxTerm + 1 }, now)
    expect(core.status(now).maxTerm).toBe(before.maxTerm + 1)
  })
})
