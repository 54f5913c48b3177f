// One cluster, one lineage: cold starts without --expect, rejoin after restarts, two clusters meeting, the voter
// set that keeps up (cap, autopilot), recovery, and durable-before-visible ordering of the core's effects.
import { describe, expect, it } from 'vitest'
import { encodeMessage, MAX_MESSAGE_BYTES } from '../../src/core/codec.ts'
import { protocolDefaults } from '../../src/core/defaults.ts'
import { ClusterCore } from '../../src/core/node.ts'
import type { Effect, Message } from '../../src/core/types.ts'
import { MiniNet } from './mini-net.ts'

const W = protocolDefaults.discoveryWindowMs

function clusters(net: MiniNet, ids: string[]): Set<string | null> {
  return new Set(ids.map((id) => net.cores.get(id)!.status(net.now).clusterId))
}

/** Track masterships: two different nodes must never hold one term. */
function termClashes(net: MiniNet): string[] {
  const byTerm = new Map<number, string>()
  const out: string[] = []
  for (const e of net.events) {
    if (e.event.type !== 'became-master') continue
    const prev = byTerm.get(e.event.term)
    if (prev !== undefined && prev !== e.node) out.push(`term ${e.event.term}: ${prev} and ${e.node}`)
    byTerm.set(e.event.term, e.node)
  }
  return out
}

describe('cold start without --expect', () => {
  it('agents that start together agree on one cluster and one voter config after the discovery window', () => {
    const net = new MiniNet(3)
    net.add('node-1')
    net.add('node-2', {}, ['node-1'])
    net.add('node-3', {}, ['node-1'])
    net.run(W - 500)
    expect(net.masters()).toEqual([])
    expect(clusters(net, ['node-1', 'node-2', 'node-3'])).toEqual(new Set([null]))
    net.run(2500)
    expect(net.masters()).toEqual(['node-1'])
    const ids = clusters(net, ['node-1', 'node-2', 'node-3'])
    expect(ids.size).toBe(1)
    expect([...ids][0]).toMatch(/^[0-9a-f]{20}$/)
    for (const c of net.live()) expect(c.status(net.now).config?.voters).toEqual(['node-1', 'node-2', 'node-3'])
    expect(net.events.filter((e) => e.event.type === 'cluster-born').map((e) => e.node)).toEqual(['node-1'])
    expect(net.violations).toEqual([])
  })

  it('a joiner after bootstrap joins the existing cluster instead of founding one', () => {
    const net = new MiniNet(4)
    net.add('node-2')
    net.run(W + 1000)
    expect(net.masters()).toEqual(['node-2'])
    net.add('node-1', {}, ['node-2'])
    net.run(6000)
    expect(clusters(net, ['node-1', 'node-2']).size).toBe(1)
    expect(net.events.filter((e) => e.event.type === 'cluster-born')).toHaveLength(1)
    // node-1 is the lowest id: master after the stability window, under a higher term.
    expect(net.masters()).toEqual(['node-1'])
    expect(termClashes(net)).toEqual([])
  })

  it('caps the voters at `voters` and fills the set from the members seen at bootstrap', () => {
    const net = new MiniNet(5)
    net.add('node-1')
    for (let i = 2; i <= 7; i++) net.add(`node-${i}`, {}, ['node-1'])
    net.run(W + 2000)
    const st = net.cores.get('node-7')!.status(net.now)
    expect(st.config?.voters).toEqual(['node-1', 'node-2', 'node-3', 'node-4', 'node-5'])
    expect(st.role).toBe('member')
    expect(net.cores.get('node-2')!.status(net.now).role).toBe('voter')
    expect(net.cores.get('node-1')!.status(net.now).role).toBe('master')
    // Members without a vote still know the master (claims ride on probes).
    expect(st.master?.id).toBe('node-1')
  })
})

describe('restarts keep the lineage', () => {
  it('a member that left and restarts with its stored state and no seeds rejoins; one master per term', () => {
    const net = new MiniNet(6)
    net.add('node-1')
    net.add('node-2', {}, ['node-1'])
    net.add('node-3', {}, ['node-1'])
    net.run(W + 2000)
    const cluster = net.cores.get('node-1')!.status(net.now).clusterId
    net.apply('node-1', net.cores.get('node-1')!.leave(net.now))
    net.down.add('node-1')
    net.run(4000)
    expect(net.masters()).toEqual(['node-2'])
    const t2 = net.cores.get('node-2')!.master(net.now)!.term
    net.add('node-1') // same stored state, no seeds: it dials the peers it stored
    net.run(8000)
    expect(net.masters()).toEqual(['node-1'])
    expect(net.cores.get('node-1')!.master(net.now)!.term).toBeGreaterThan(t2)
    expect(clusters(net, ['node-1', 'node-2', 'node-3'])).toEqual(new Set([cluster]))
    expect(net.events.filter((e) => e.event.type === 'cluster-born')).toHaveLength(1)
    expect(termClashes(net)).toEqual([])
    expect(net.violations).toEqual([])
  })

  it('a member whose data dir was wiped joins through a seed as a new member of the same cluster', () => {
    const net = new MiniNet(8)
    net.add('node-1')
    net.add('node-2', {}, ['node-1'])
    net.add('node-3', {}, ['node-1'])
    net.run(W + 2000)
    const cluster = net.cores.get('node-1')!.status(net.now).clusterId
    net.crash('node-3')
    net.run(2000)
    net.wipe('node-3')
    net.add('node-3', {}, ['node-1'])
    net.run(8000)
    expect(clusters(net, ['node-1', 'node-2', 'node-3'])).toEqual(new Set([cluster]))
    expect(net.masters()).toEqual(['node-1'])
  })
})

describe('two clusters meet', () => {
  it('the younger cluster steps down and merges into the older; the survivor moves above every term either side used', () => {
    const net = new MiniNet(9)
    net.partition(['node-1', 'node-2'], ['node-3', 'node-4', 'node-5'])
    net.checkSingleMaster = false // two clusters that have not met each elect a master
    // node-3's side starts a second earlier: its cluster is the older one, which survives (C3).
    net.add('node-3')
    net.add('node-4', {}, ['node-3'])
    net.add('node-5', {}, ['node-3'])
    net.run(1000)
    net.add('node-1')
    net.add('node-2', {}, ['node-1'])
    net.run(W + 3000)
    expect(net.masters().sort()).toEqual(['node-1', 'node-3'])
    expect(clusters(net, ['node-1', 'node-2', 'node-3', 'node-4', 'node-5']).size).toBe(2)
    // Churn terms on the small side so that it used higher terms than the survivor.
    for (let i = 0; i < 3; i++) {
      net.partition(['node-1'], ['node-2'], ['node-3', 'node-4', 'node-5'])
      net.run(3000)
      net.partition(['node-1', 'node-2'], ['node-3', 'node-4', 'node-5'])
      net.run(8000)
    }
    // node-1 and node-2 removed each other three times within a minute: each takes the other back only after it
    // has answered every probe for 12 s (F2, membership.ts).
    net.run(14_000)
    expect(net.masters().sort()).toEqual(['node-1', 'node-3'])
    const maxBefore = Math.max(...net.live().map((c) => c.status(net.now).maxTerm))
    const survivor = net.cores.get('node-3')!.status(net.now).clusterId
    // node-1 learns node-3's address (as a discovery would) and the partition heals.
    net.heal()
    net.checkSingleMaster = true
    net.apply('node-1', net.cores.get('node-1')!.start([{ peer: 'p:node-3', addrs: ['/sim/node-3'] }], net.now))
    net.run(12_000)
    expect(clusters(net, ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'])).toEqual(new Set([survivor]))
    expect(net.masters()).toEqual(['node-1'])
    expect(net.cores.get('node-1')!.master(net.now)!.term).toBeGreaterThan(maxBefore)
    const merged = net.events.filter((e) => e.event.type === 'cluster-joined' && e.event.reason === 'merged').map((e) => e.node).sort()
    expect(merged).toEqual(['node-1', 'node-2'])
    const steppedDown = net.events.filter((e) => e.event.type === 'stepped-down' && e.event.reason.startsWith('merging into cluster'))
    expect(steppedDown.map((e) => e.node)).toContain('node-1')
    expect(net.violations).toEqual([])
    // Every voter slot is filled again from the merged members (cap 5).
    expect(net.cores.get('node-2')!.status(net.now).config?.voters.length).toBe(5)
  })
})

describe('the voter set keeps up', () => {
  it('adding voters one at a time never costs the master its role (1 -> 2 -> 3 voters)', () => {
    const net = new MiniNet(12)
    net.add('node-1')
    net.run(W + 1000)
    const term = net.cores.get('node-1')!.master(net.now)!.term
    net.add('node-2', {}, ['node-1'])
    net.add('node-3', {}, ['node-1'])
    net.run(6000)
    expect(net.cores.get('node-1')!.status(net.now).config?.voters).toEqual(['node-1', 'node-2', 'node-3'])
    expect(net.events.filter((e) => e.event.type === 'stepped-down')).toEqual([])
    expect(net.cores.get('node-1')!.master(net.now)!.term).toBe(term)
  })

  it('a voter dead for voterDeadAfterMs is replaced by a live member without a vote', () => {
    const net = new MiniNet(10)
    net.add('node-1', { voterDeadAfterMs: 5000 })
    for (let i = 2; i <= 7; i++) net.add(`node-${i}`, { voterDeadAfterMs: 5000 }, ['node-1'])
    net.run(W + 2000)
    net.crash('node-3')
    net.run(4000)
    expect(net.cores.get('node-1')!.status(net.now).config?.voters).toContain('node-3')
    net.run(4000)
    expect(net.cores.get('node-1')!.status(net.now).config?.voters).toEqual(['node-1', 'node-2', 'node-4', 'node-5', 'node-6'])
    // Now two more voters can fail at once and a majority (3 of 5) remains.
    net.crash('node-1')
    net.crash('node-2')
    net.run(6000)
    expect(net.masters()).toEqual(['node-4'])
    expect(net.violations).toEqual([])
  })

  it('recovery: refused while a majority of the voters is visible; after the majority is lost, the named survivors become the voters', () => {
    const net = new MiniNet(11)
    net.add('node-1')
    for (let i = 2; i <= 5; i++) net.add(`node-${i}`, {}, ['node-1'])
    net.run(W + 2000)
    const refused = net.cores.get('node-4')!.recover(['node-4', 'node-5'], net.now)
    expect(refused).toMatchObject({ ok: false })
    expect((refused as { error: string }).error).toMatch(/has its majority/)
    for (const id of ['node-1', 'node-2', 'node-3']) net.crash(id)
    net.run(4000)
    expect(net.masters()).toEqual([])
    const before = Math.max(...net.live().map((c) => c.status(net.now).maxTerm))
    const r = net.cores.get('node-4')!.recover(['node-4', 'node-5'], net.now)
    expect(r.ok).toBe(true)
    if (r.ok) net.apply('node-4', r.effects)
    net.run(4000)
    expect(net.masters()).toEqual(['node-4'])
    expect(net.cores.get('node-4')!.master(net.now)!.term).toBeGreaterThan(before + 999)
    expect(net.cores.get('node-5')!.status(net.now).config?.voters).toEqual(['node-4', 'node-5'])
  })
})

describe('durable before visible', () => {
  it('a voter persists its promise before its grant leaves', () => {
    const c = new ClusterCore({ ...protocolDefaults, id: 'c', peer: 'pc', addrs: [], stored: { clusterId: 'k1', retired: [], config: { version: 1, term: 0, voters: ['a', 'b', 'c'] }, maxTerm: 3, promisedTerm: 3, incarnation: 0, peers: [] } }, () => 0.5, 0)
    const members = ['a', 'b', 'c'].map((id) => ({ id, peer: 'p' + id, addrs: [], incarnation: 0, state: 'alive' as const }))
    c.receive('pa', { t: 'sync', cluster: 'k1', from: 'a', reply: true, members, config: { version: 1, term: 0, voters: ['a', 'b', 'c'] }, maxTerm: 3 }, 2000)
    const effects: Effect[] = c.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 1, term: 4, master: false, configVersion: 1 }, 2010)
    const persistAt = effects.findIndex((e) => e.type === 'persist')
    const grantAt = effects.findIndex((e) => e.type === 'send' && e.msg.t === 'lease-ack' && e.msg.granted)
    expect(grantAt).toBeGreaterThan(-1)
    expect(persistAt).toBe(0)
    expect(effects[0]).toMatchObject({ type: 'persist', state: { promisedTerm: 4, clusterId: 'k1' } })
    // A renewal of the same grant changes nothing durable: no write.
    const renewal = c.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 2, term: 4, master: true, configVersion: 1 }, 2400)
    expect(renewal.some((e) => e.type === 'persist')).toBe(false)
  })

  it('a state exchange of 1,000 members is paged below the message limit', () => {
    const c = new ClusterCore({ ...protocolDefaults, id: 'node-0', peer: 'p0', addrs: ['/ip4/10.0.0.1/tcp/7946/p2p/12D3KooWabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd'] }, () => 0.5, 0)
    const members = Array.from({ length: 1000 }, (_, i) => ({
      id: `node-${i + 1}`,
      peer: `12D3KooW${String(i).padStart(44, 'x')}`,
      addrs: [`/ip4/10.0.${i >> 8}.${i & 255}/tcp/7946/p2p/12D3KooW${String(i).padStart(44, 'x')}`],
      incarnation: 3,
      state: 'alive' as const,
      tags: { role: 'web', zone: 'eu-1' },
    }))
    c.receive('p1', { t: 'updates', from: 'node-1', updates: members }, 10)
    const effects = c.observe({ type: 'peer-connected', peer: 'p-new', addrs: [] }, 20)
    const pages = effects.filter((e): e is Extract<Effect, { type: 'send' }> => e.type === 'send' && e.msg.t === 'sync').map((e) => e.msg as Extract<Message, { t: 'sync' }>)
    expect(pages.length).toBeGreaterThan(1)
    expect(pages.reduce((n, p) => n + p.members.length, 0)).toBe(1001)
    for (const p of pages) expect(encodeMessage(p).byteLength).toBeLessThan(MAX_MESSAGE_BYTES)
    expect(pages.slice(0, -1).every((p) => p.more === true)).toBe(true)
    expect(pages.at(-1)!.more).toBeUndefined()
  })
})
