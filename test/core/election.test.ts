import { describe, expect, it } from 'vitest'
import { MiniNet } from './mini-net.ts'
import { ClusterCore } from '../../src/core/node.ts'
import { protocolDefaults } from '../../src/core/defaults.ts'
import type { CoreConfig, Effect, Message } from '../../src/core/types.ts'

function cluster(n: number, seed = 1, overrides: Partial<CoreConfig> = {}): MiniNet {
  const net = new MiniNet(seed)
  net.add('node-1', overrides)
  for (let i = 2; i <= n; i++) net.add('node-' + i, overrides, ['node-1'])
  net.run(8000)
  return net
}

const masterViews = (net: MiniNet, ids: string[]) => ids.map((id) => net.cores.get(id)!.master(net.now)?.id ?? null)

describe('master election', () => {
  it('every node agrees on the lowest id, which holds a majority of leases', () => {
    const net = cluster(5)
    expect(net.masters()).toEqual(['node-1'])
    expect(masterViews(net, ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'])).toEqual(Array(5).fill('node-1'))
    const st = net.cores.get('node-3')!.status(net.now)
    expect(st.quorum).toEqual({ has: true, visible: 5, voting: 5, needed: 3 })
    expect(net.violations).toEqual([])
  })

  it('natural order decides: node-2 beats node-10', () => {
    const net = new MiniNet(3)
    net.add('node-10')
    net.add('node-2', {}, ['node-10'])
    net.add('node-11', {}, ['node-10'])
    net.run(10000)
    expect(net.masters()).toEqual(['node-2'])
  })

  it('a master crash gives one new master with a higher term, within about the lease', () => {
    const net = cluster(5)
    const term = net.cores.get('node-1')!.status(net.now).term
    const t0 = net.now
    net.crash('node-1')
    net.run(4000)
    expect(net.masters()).toEqual(['node-2'])
    const became = net.events.find((e) => e.at > t0 && e.event.type === 'became-master')!
    expect(became.node).toBe('node-2')
    expect(became.at - t0).toBeLessThan(1600)
    expect(net.cores.get('node-2')!.master(net.now)!.term).toBeGreaterThan(term)
    expect(masterViews(net, ['node-2', 'node-3', 'node-4', 'node-5'])).toEqual(Array(4).fill('node-2'))
    expect(net.violations).toEqual([])
  })

  it('an isolated master steps down before anyone else takes over, and comes back under a higher term', () => {
    const net = cluster(5)
    const t0 = net.now
    net.partition(['node-1'], ['node-2', 'node-3', 'node-4', 'node-5'])
    net.run(6000)
    expect(net.masters()).toEqual(['node-2'])
    expect(net.cores.get('node-1')!.master(net.now)).toBeNull()
    const down = net.events.find((e) => e.at > t0 && e.node === 'node-1' && e.event.type === 'stepped-down')!
    const up = net.events.find((e) => e.at > t0 && e.event.type === 'became-master')!
    expect(down.at).toBeLessThanOrEqual(up.at)
    const t2 = net.cores.get('node-2')!.master(net.now)!.term
    net.heal()
    net.run(10000)
    expect(net.masters()).toEqual(['node-1'])
    expect(net.cores.get('node-1')!.master(net.now)!.term).toBeGreaterThan(t2)
    expect(net.violations).toEqual([])
  })

  it('split 2|3: the majority keeps a master, the minority has none', () => {
    const net = cluster(5)
    net.partition(['node-1', 'node-2'], ['node-3', 'node-4', 'node-5'])
    net.run(8000)
    expect(net.masters()).toEqual(['node-3'])
    expect(masterViews(net, ['node-1', 'node-2'])).toEqual([null, null])
    expect(net.cores.get('node-1')!.status(net.now).quorum).toMatchObject({ has: false, visible: 2, voting: 5, needed: 3 })
    net.heal()
    net.run(10000)
    expect(net.masters()).toEqual(['node-1'])
    expect(net.violations).toEqual([])
  })

  it('split 2|2: nobody is master under quorum=majority', () => {
    const net = cluster(4)
    net.partition(['node-1', 'node-2'], ['node-3', 'node-4'])
    net.run(8000)
    expect(net.masters()).toEqual([])
    expect(net.violations).toEqual([])
  })

  it('split 2|2: both halves have a master under quorum=none', () => {
    const net = new MiniNet(1)
    // Under quorum=none every partition (even a lone node at start-up) may crown a master.
    net.checkSingleMaster = false
    net.add('node-1', { quorum: 'none' })
    for (let i = 2; i <= 4; i++) net.add('node-' + i, { quorum: 'none' }, ['node-1'])
    net.run(8000)
    expect(net.masters()).toEqual(['node-1'])
    net.partition(['node-1', 'node-2'], ['node-3', 'node-4'])
    net.run(8000)
    expect(net.masters().sort()).toEqual(['node-1', 'node-3'])
    net.heal()
    net.run(8000)
    expect(net.masters()).toEqual(['node-1'])
    expect(net.violations).toEqual([])
  })

  it('bridge partition (node-1 and node-3 cut, node-2 sees both): exactly one master', () => {
    const net = cluster(3)
    net.blocked.add('node-1>node-3')
    net.blocked.add('node-3>node-1')
    net.run(15000)
    expect(net.masters().length).toBe(1)
    expect(net.violations).toEqual([])
  })

  it('ring of majorities on 5 nodes (each node sees only its two neighbours) never has two masters', () => {
    const net = cluster(5)
    const ids = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5']
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) {
      const d = Math.min((i - j + 5) % 5, (j - i + 5) % 5)
      if (d > 1) net.blocked.add(ids[i] + '>' + ids[j])
    }
    net.run(20000)
    expect(net.masters().length).toBeLessThanOrEqual(1)
    expect(net.violations).toEqual([])
  })

  it('a lower id that joins later takes over only after the stability window, with a clean hand-over', () => {
    const net = new MiniNet(5)
    net.add('node-2')
    net.add('node-3', {}, ['node-2'])
    net.add('node-4', {}, ['node-2'])
    net.run(6000)
    expect(net.masters()).toEqual(['node-2'])
    const t0 = net.now
    net.add('node-1', {}, ['node-2'])
    net.run(1000)
    expect(net.masters()).toEqual(['node-2'])
    net.run(8000)
    expect(net.masters()).toEqual(['node-1'])
    const took = net.events.find((e) => e.at > t0 && e.node === 'node-1' && e.event.type === 'became-master')!
    expect(took.at - t0).toBeGreaterThanOrEqual(protocolDefaults.stabilityWindowMs)
    expect(net.violations).toEqual([])
  })

  it('--expect holds the election until that many members were seen', () => {
    const net = new MiniNet(2)
    net.add('node-1', { expect: 3 })
    net.add('node-2', { expect: 3 }, ['node-1'])
    net.run(5000)
    expect(net.masters()).toEqual([])
    net.add('node-3', { expect: 3 }, ['node-1'])
    net.run(5000)
    expect(net.masters()).toEqual(['node-1'])
  })

  it('a gracefully leaving master hands over at once and stops voting', () => {
    const net = cluster(5)
    const t0 = net.now
    net.apply('node-1', net.cores.get('node-1')!.leave(net.now))
    net.down.add('node-1')
    net.run(4000)
    expect(net.masters()).toEqual(['node-2'])
    const took = net.events.find((e) => e.at > t0 && e.event.type === 'became-master')!
    expect(took.at - t0).toBeLessThan(1000)
    expect(net.cores.get('node-2')!.status(net.now).config!.voters).not.toContain('node-1')
    expect(net.violations).toEqual([])
  })

  it('dead voters keep voting until removed; remove restores the quorum arithmetic', () => {
    const net = cluster(5)
    net.crash('node-4')
    net.crash('node-5')
    net.run(4000)
    expect(net.masters()).toEqual(['node-1'])
    expect(net.cores.get('node-2')!.status(net.now).quorum).toMatchObject({ visible: 3, voting: 5, needed: 3 })
    // remove through a non-master: it is forwarded to the master.
    const r = net.cores.get('node-3')!.remove('node-4', net.now)
    expect(r.ok).toBe(true)
    if (r.ok) net.apply('node-3', r.effects)
    net.run(2000)
    const r2 = net.cores.get('node-1')!.remove('node-5', net.now)
    expect(r2.ok).toBe(true)
    if (r2.ok) net.apply('node-1', r2.effects)
    net.run(3000)
    expect(net.cores.get('node-2')!.status(net.now).quorum).toMatchObject({ has: true, visible: 3, voting: 3, needed: 2 })
    // Now one more crash still leaves a majority of the smaller config.
    net.crash('node-3')
    net.run(4000)
    expect(net.masters()).toEqual(['node-1'])
    expect(net.violations).toEqual([])
  })

  it('remove refuses a live member and answers without a master', () => {
    const net = cluster(3)
    const r = net.cores.get('node-2')!.remove('node-3', net.now)
    expect(r).toMatchObject({ ok: false })
    expect(!r.ok && r.error).toMatch(/alive/)
    net.crash('node-1')
    net.crash('node-3')
    net.run(4000)
    const r2 = net.cores.get('node-2')!.remove('node-3', net.now)
    expect(!r2.ok && r2.error).toMatch(/no master.*1 of 3 voting members visible, 2 needed/)
  })

  it('joiners during a partition cannot outvote the old majority (voters are admitted by a master, one at a time)', () => {
    const net = cluster(3)
    net.partition(['node-1'], ['node-2', 'node-3'])
    net.run(3000)
    // Three new nodes join node-1's side only.
    net.partition(['node-1', 'node-4', 'node-5', 'node-6'], ['node-2', 'node-3'])
    for (const id of ['node-4', 'node-5', 'node-6']) net.add(id, {}, ['node-1'])
    net.run(10000)
    expect(net.masters()).toEqual(['node-2'])
    expect(net.violations).toEqual([])
    net.heal()
    net.run(15000)
    expect(net.masters()).toEqual(['node-1'])
    // Voters are capped at 5 (V1): the sixth member stays a member without a vote.
    expect(net.cores.get('node-5')!.status(net.now).config!.voters.length).toBe(protocolDefaults.voters)
    expect(net.violations).toEqual([])
  })
})

describe('lease rules at the message level', () => {
  function voter(): ClusterCore {
    // A voter (c) that knows a, b, c alive with config {a,b,c}.
    const c = new ClusterCore({ ...protocolDefaults, id: 'c', peer: 'pc', addrs: [] }, () => 0.5, 0)
    const members = ['a', 'b', 'c'].map((id) => ({ id, peer: 'p' + id, addrs: [], incarnation: 0, state: 'alive' as const }))
    c.receive('pa', { t: 'sync', cluster: 'k1', from: 'a', reply: true, members, config: { version: 1, term: 0, voters: ['a', 'b', 'c'] }, maxTerm: 0 }, 2000)
    // A fresh node grants nothing before it heard the highest term from enough voters (here: both others).
    c.receive('pb', { t: 'sync', cluster: 'k1', from: 'b', reply: true, members, config: { version: 1, term: 0, voters: ['a', 'b', 'c'] }, maxTerm: 0 }, 2000)
    return c
  }
  const ack = (effects: Effect[]) => effects.map((e) => (e.type === 'send' ? e.msg : null)).find((m): m is Extract<Message, { t: 'lease-ack' }> => m?.t === 'lease-ack')!

  // Times start past the lease length: a voter that just started grants nothing (it may have granted before a restart).
  it('grants the lowest live id, refuses others while bound, and regrants only after expiry', () => {
    const v = voter()
    const g1 = ack(v.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 1, term: 1, master: false, configVersion: 1 }, 2010))
    expect(g1).toMatchObject({ granted: true, term: 1, durationMs: protocolDefaults.leaseDurationMs })
    const r1 = ack(v.receive('pb', { t: 'lease-req', cluster: 'k1', from: 'b', seq: 1, term: 2, master: false, configVersion: 1 }, 2020))
    expect(r1).toMatchObject({ granted: false, reason: 'not-lowest', holder: 'a' })
    // a renews the same term.
    const g2 = ack(v.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 2, term: 1, master: true, configVersion: 1 }, 2400))
    expect(g2.granted).toBe(true)
    // a leaves: b is now the lowest live id, but the grant to a binds until it expires. (A second-hand death would
    // only make a suspect here until this voter's own probe failed: membership.ts M3.)
    v.receive('pa', { t: 'leave', from: 'a', incarnation: 1 }, 2500)
    const r2 = ack(v.receive('pb', { t: 'lease-req', cluster: 'k1', from: 'b', seq: 2, term: 2, master: false, configVersion: 1 }, 2600))
    expect(r2).toMatchObject({ granted: false, reason: 'bound', holder: 'a' })
    const g3 = ack(v.receive('pb', { t: 'lease-req', cluster: 'k1', from: 'b', seq: 3, term: 2, master: false, configVersion: 1 }, 2400 + protocolDefaults.leaseDurationMs + 1))
    expect(g3).toMatchObject({ granted: true, term: 2 })
  })

  it('a voter started without memory of its terms grants nothing until enough voters told it the highest term', () => {
    const c = new ClusterCore({ ...protocolDefaults, id: 'c', peer: 'pc', addrs: [] }, () => 0.5, 0)
    const members = ['a', 'b', 'c'].map((id) => ({ id, peer: 'p' + id, addrs: [], incarnation: 0, state: 'alive' as const }))
    const config = { version: 1, term: 0, voters: ['a', 'b', 'c'] }
    c.receive('pa', { t: 'sync', cluster: 'k1', from: 'a', reply: true, members, config, maxTerm: 3 }, 0)
    expect(ack(c.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 1, term: 4, master: false, configVersion: 1 }, 5000))).toMatchObject({ granted: false, reason: 'bound' })
    // b once granted term 7 to someone (c may have too, before it lost its data dir): c learns it and refuses 7.
    c.receive('pb', { t: 'sync', cluster: 'k1', from: 'b', reply: true, members, config, maxTerm: 7 }, 5000)
    expect(ack(c.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 2, term: 7, master: false, configVersion: 1 }, 5001))).toMatchObject({ granted: false, reason: 'stale-term' })
    expect(ack(c.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 3, term: 8, master: false, configVersion: 1 }, 5002))).toMatchObject({ granted: true })
  })

  it('a voter that just (re)started grants nothing until any grant of its previous run has expired', () => {
    const v = voter()
    const r = ack(v.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 1, term: 1, master: false, configVersion: 1 }, protocolDefaults.leaseDurationMs - 1))
    expect(r).toMatchObject({ granted: false, reason: 'bound' })
  })

  it('refuses a new mastership whose term is not above every term it has seen', () => {
    const v = voter()
    v.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 1, term: 5, master: false, configVersion: 1 }, 2010)
    v.receive('pa', { t: 'lease-release', from: 'a', term: 5 }, 2020)
    const r = ack(v.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 2, term: 4, master: false, configVersion: 1 }, 2030))
    expect(r).toMatchObject({ granted: false, reason: 'stale-term', maxTerm: 5 })
  })

  it('refuses a request carrying an older voter config and sends its own', () => {
    const v = voter()
    v.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 1, term: 3, master: true, configVersion: 2, config: { version: 2, term: 3, voters: ['a', 'b', 'c', 'd'] } }, 2010)
    const r = ack(v.receive('pa', { t: 'lease-req', cluster: 'k1', from: 'a', seq: 2, term: 3, master: true, configVersion: 1 }, 2020))
    expect(r).toMatchObject({ granted: false, reason: 'stale-config' })
    expect(r.config?.version).toBe(2)
  })
})
