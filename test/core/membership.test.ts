import { describe, expect, it } from 'vitest'
import { MiniNet } from './mini-net.ts'
import { compareIds, lowestId } from '../../src/core/order.ts'
import { CONFIRMED_MS } from '../../src/core/suspicion.ts'
import { F1_STARTUP_GRACE_MS, READMIT_ANSWERS } from '../../src/core/membership.ts'
import { ClusterCore, needed } from '../../src/core/node.ts'
import { protocolDefaults } from '../../src/core/defaults.ts'
import type { Effect, Message } from '../../src/core/types.ts'

function cluster(n: number, seed = 1, overrides = {}): MiniNet {
  const net = new MiniNet(seed)
  net.add('node-1', overrides)
  for (let i = 2; i <= n; i++) net.add('node-' + i, overrides, ['node-1'])
  net.run(6000)
  return net
}

describe('natural order of ids', () => {
  it('orders digit runs as numbers', () => {
    expect(compareIds('node-2', 'node-10')).toBeLessThan(0)
    expect(compareIds('node-10', 'node-9')).toBeGreaterThan(0)
    expect(compareIds('a', 'b')).toBeLessThan(0)
    expect(compareIds('host1-rack2', 'host1-rack10')).toBeLessThan(0)
    expect(compareIds('node-01', 'node-1')).not.toBe(0)
    expect(lowestId(['node-10', 'node-9', 'node-11'])).toBe('node-9')
  })
  it('is a total order consistent with sort', () => {
    const ids = ['n10', 'n2', 'n1', 'm5', 'n02', 'n', 'n1a']
    const sorted = [...ids].sort(compareIds)
    for (let i = 0; i + 1 < sorted.length; i++) expect(compareIds(sorted[i]!, sorted[i + 1]!)).toBeLessThan(0)
  })
})

describe('quorum arithmetic', () => {
  it('needs a strict majority', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(needed)).toEqual([1, 2, 2, 3, 3, 4, 4])
  })
})

describe('membership', () => {
  it('a crashed member is suspected, then declared dead by everyone', () => {
    const net = cluster(5)
    const t0 = net.now
    net.crash('node-4')
    net.run(3000)
    for (const id of ['node-1', 'node-2', 'node-3', 'node-5']) expect(net.stateOf(id, 'node-4')).toBe('dead')
    const dead = net.events.filter((e) => e.at >= t0 && e.event.type === 'member-state' && e.event.member.id === 'node-4' && e.event.member.state === 'dead')
    // Disconnect hints plus confirmations from every peer shrink the suspicion timeout to its minimum.
    expect(Math.max(...dead.map((e) => e.at)) - t0).toBeLessThan(1000)
  })

  it('a silent member (no disconnect hint) is found by round-robin probes', () => {
    const net = cluster(5)
    const t0 = net.now
    net.partition(['node-1', 'node-2', 'node-3', 'node-5'], ['node-4'])
    net.run(5000)
    for (const id of ['node-1', 'node-2', 'node-3', 'node-5']) expect(net.stateOf(id, 'node-4')).toBe('dead')
    const last = Math.max(...net.events.filter((e) => e.at >= t0 && e.event.type === 'member-state' && e.event.member.id === 'node-4' && e.event.member.state === 'dead').map((e) => e.at))
    expect(last - t0).toBeLessThan(3000)
  })

  it('a suspected member refutes by raising its incarnation', () => {
    const net = cluster(4)
    const before = net.cores.get('node-3')!.status(net.now).incarnation
    // Cut node-3 off for about one detection time, then let it back.
    net.partition(['node-1', 'node-2', 'node-4'], ['node-3'])
    net.run(1000)
    net.heal()
    net.run(4000)
    const st = net.cores.get('node-3')!.status(net.now)
    expect(st.incarnation).toBeGreaterThan(before)
    expect(net.events.some((e) => e.node === 'node-3' && e.event.type === 'refuted')).toBe(true)
    for (const id of ['node-1', 'node-2', 'node-4']) expect(net.stateOf(id, 'node-3')).toBe('alive')
  })

  it('a graceful leave is recorded as left everywhere', () => {
    const net = cluster(4)
    net.apply('node-3', net.cores.get('node-3')!.leave(net.now))
    net.down.add('node-3')
    net.run(2000)
    for (const id of ['node-1', 'node-2', 'node-4']) expect(net.stateOf(id, 'node-3')).toBe('left')
  })

  it('a healed partition merges again without a restart', () => {
    const net = cluster(5)
    net.partition(['node-1', 'node-2'], ['node-3', 'node-4', 'node-5'])
    net.run(8000)
    expect(net.stateOf('node-1', 'node-4')).toBe('dead')
    expect(net.stateOf('node-4', 'node-1')).toBe('dead')
    net.heal()
    net.run(8000)
    for (const c of net.live()) for (const m of c.status(net.now).members) expect(m.state).toBe('alive')
    expect(net.masters()).toEqual(['node-1'])
  })

  it('a member reachable only through others (bridge) stays alive through indirect probes', () => {
    const net = cluster(3)
    // node-1 and node-3 cannot talk; node-2 sees both.
    net.blocked.add('node-1>node-3')
    net.blocked.add('node-3>node-1')
    net.run(10000)
    expect(net.stateOf('node-1', 'node-3')).toBe('alive')
    expect(net.stateOf('node-3', 'node-1')).toBe('alive')
  })

  it('no member is declared dead under 20% message loss', () => {
    const net = new MiniNet(7, 2, 0)
    net.add('node-1')
    for (let i = 2; i <= 6; i++) net.add('node-' + i, {}, ['node-1'])
    net.run(5000)
    ;(net as unknown as { loss: number }).loss = 0.2
    const t0 = net.now
    net.run(60_000)
    const deaths = net.events.filter((e) => e.at > t0 && e.event.type === 'member-state' && e.event.member.state === 'dead')
    expect(deaths).toEqual([])
  })

  it('the suspicion timeout shrinks with independent confirmations', () => {
    const core = new ClusterCore({ ...protocolDefaults, id: 'a', peer: 'pa', addrs: [] }, () => 0.5, 0)
    const max = core.suspicionTimeout(0, 3)
    const mid = core.suspicionTimeout(1, 3)
    const almost = core.suspicionTimeout(2, 3)
    const confirmed = core.suspicionTimeout(3, 3)
    expect(max).toBe(protocolDefaults.suspicionMinMs * protocolDefaults.suspicionMaxMult)
    expect(mid).toBeLessThan(max)
    expect(almost).toBeLessThan(mid)
    expect(almost).toBeGreaterThanOrEqual(protocolDefaults.suspicionMinMs)
    // k independent confirmations (Rapid's high watermark): only a refutation already on its way is waited for.
    expect(confirmed).toBe(CONFIRMED_MS)
    expect(core.suspicionTimeout(10, 3)).toBe(confirmed)
  })

  it('a second key claiming a live id is refused (the later joiner gets a fatal conflict)', () => {
    const net = cluster(3)
    const dup = new ClusterCore({ ...protocolDefaults, id: 'node-2', peer: 'p:dup', addrs: [] }, () => 0.3, net.now)
    const effects = dup.start([{ peer: 'p:node-1', addrs: [] }], net.now)
    const sync = effects.find((e) => e.type === 'send')!
    expect(sync.type === 'send' && sync.msg.t).toBe('sync')
    const reply = net.cores.get('node-1')!.receive('p:dup', (sync as { msg: Message }).msg, net.now)
    const back = reply.find((e) => e.type === 'send' && e.msg.t === 'sync')
    const out = dup.receive('p:node-1', (back as { msg: Message }).msg, net.now)
    expect(out.some((e) => e.type === 'emit' && e.event.type === 'id-conflict' && e.event.fatal)).toBe(true)
    // The established holder is not displaced.
    expect(net.cores.get('node-1')!.member('node-2')!.peer).toBe('p:node-2')
  })

  it('a restarted member (same key, fresh state) comes back above its old incarnation', () => {
    const net = cluster(3)
    net.crash('node-3')
    net.run(3000)
    expect(net.stateOf('node-1', 'node-3')).toBe('dead')
    net.add('node-3', {}, ['node-1'])
    net.run(3000)
    for (const id of ['node-1', 'node-2']) expect(net.stateOf(id, 'node-3')).toBe('alive')
  })

  it('anti-entropy sends digests while the tables agree, and a full exchange only on a difference', () => {
    const net = cluster(5)
    const t0 = net.now
    net.run(60_000)
    const since = net.sent.filter((s) => s.at >= t0)
    const digests = since.filter((s) => s.msg.t === 'digest')
    // One round per node every 7.5-22.5 s (syncIntervalMs x [0.5, 1.5)): 5 nodes, 60 s.
    expect(digests.length).toBeGreaterThanOrEqual(10)
    expect(new Set(digests.map((s) => (s.msg as { digest: string }).digest)).size).toBe(1)
    expect(since.filter((s) => s.msg.t === 'sync')).toEqual([])

    const node1 = net.cores.get('node-1')!
    const sentSync = (effects: ReturnType<typeof node1.receive>) => effects.some((e) => e.type === 'send' && e.to === 'p:node-2' && e.msg.t === 'sync')
    expect(sentSync(node1.receive('p:node-2', digests[0]!.msg, net.now))).toBe(false)
    expect(sentSync(node1.receive('p:node-2', { t: 'digest', from: 'node-2', digest: '0123456789abcdef' }, net.now))).toBe(true)
    // A mismatch costs the receiver a full table: at most one per peer per second, whatever the peer sends.
    expect(sentSync(node1.receive('p:node-2', { t: 'digest', from: 'node-2', digest: '0123456789abcdef' }, net.now + 10))).toBe(false)
  })

  it('anti-entropy repairs a difference that gossip no longer carries', () => {
    const net = cluster(5)
    const t0 = net.now
    // node-3 refutes a suspicion (a new incarnation), and for 20 s node-5 hears nothing about node-3: no broadcast,
    // node-3 stripped from every piggybacked list and state exchange. By then the retransmits are spent and no probe
    // shows the difference (an ack carries no incarnation of its sender), so only anti-entropy can repair it.
    const hidden = (u: { id: string }) => u.id === 'node-3'
    net.filter = (_from, to, msg) => {
      if (to !== 'node-5' || net.now > t0 + 20_000) return msg
      if (msg.t === 'updates') return { ...msg, updates: msg.updates.filter((u) => !hidden(u)) }
      if (msg.t === 'ping' || msg.t === 'ack') return { ...msg, gossip: msg.gossip.filter((u) => !hidden(u)) }
      if (msg.t === 'sync') return { ...msg, members: msg.members.filter((u) => !hidden(u)) }
      return msg
    }
    const node3 = net.cores.get('node-3')!
    const before = node3.member('node-3')!.incarnation
    const claim = { id: 'node-3', peer: 'p:node-3', addrs: ['/sim/node-3'], incarnation: before, state: 'suspect' as const, by: 'node-1' }
    net.apply('node-3', node3.receive('p:node-1', { t: 'updates', from: 'node-1', updates: [claim] }, net.now))
    net.run(20_000)
    const after = node3.member('node-3')!.incarnation
    expect(after).toBeGreaterThan(before)
    expect(net.cores.get('node-5')!.member('node-3')!.incarnation).toBe(before)
    net.run(45_000)
    expect(net.cores.get('node-5')!.member('node-3')!.incarnation).toBe(after)
    // The repair was a full exchange that a digest mismatch started.
    const window = net.sent.filter((s) => s.at > t0 + 20_000 && (s.to === 'node-5' || s.from === 'node-5'))
    const firstSync = window.findIndex((s) => s.msg.t === 'sync')
    expect(firstSync).toBeGreaterThan(0)
    expect(window.slice(0, firstSync).some((s) => s.msg.t === 'digest')).toBe(true)
  })

  it('sends across a possible partition ask the shell for a fresh connection (Effect.reconnect); others do not', () => {
    const net = cluster(5)
    const node3 = net.cores.get('node-3')!
    const claim = (state: 'suspect' | 'dead') => ({ id: 'node-3', peer: 'p:node-3', addrs: ['/sim/node-3'], incarnation: node3.member('node-3')!.incarnation, state, by: 'node-1' })
    const sends = (effects: ReturnType<typeof node3.receive>) => effects.filter((e) => e.type === 'send')
    // Refuting a suspicion: the node was reachable all along.
    const refuted = sends(node3.receive('p:node-1', { t: 'updates', from: 'node-1', updates: [claim('suspect')] }, net.now))
    expect(refuted.length).toBeGreaterThan(0)
    expect(refuted.every((e) => e.reconnect === undefined)).toBe(true)
    net.run(1000)
    // Back from the dead: its refutation and state pushes may cross a partition that just healed.
    const back = sends(node3.receive('p:node-1', { t: 'updates', from: 'node-1', updates: [claim('dead')] }, net.now))
    expect(back.some((e) => e.msg.t === 'sync')).toBe(true)
    expect(back.every((e) => e.reconnect === true)).toBe(true)
    // A member held dead is re-probed with the revive flag, over a fresh connection.
    net.crash('node-5')
    net.run(6000)
    expect(net.stateOf('node-1', 'node-5')).toBe('dead')
    const pings: Array<Extract<Effect, { type: 'send' }>> = []
    const apply = net.apply.bind(net)
    net.apply = (from, effects) => {
      for (const e of effects) if (from === 'node-1' && e.type === 'send' && e.msg.t === 'ping' && e.to === 'p:node-5') pings.push(e)
      apply(from, effects)
    }
    net.run(3000)
    expect(pings.length).toBeGreaterThan(0)
    expect(pings.every((e) => e.msg.t === 'ping' && e.msg.revive === true && e.reconnect === true)).toBe(true)
  })

  it('discovery duty (the LAN query): the lowest live id in each view, and the next one once it is dead', () => {
    const net = cluster(4)
    const duty = () => [...net.cores.entries()].filter(([id, c]) => !net.down.has(id) && c.discoveryDuty()).map(([id]) => id)
    expect(duty()).toEqual(['node-1'])
    net.crash('node-1')
    net.run(4000)
    expect(duty()).toEqual(['node-2'])
    // Each side of a partition has its own (clusters founded on both sides must still find each other).
    net.partition(['node-2'], ['node-3', 'node-4'])
    net.run(6000)
    expect(duty().sort()).toEqual(['node-2', 'node-3'])
  })

  describe('F1 and F2: a flapping member is removed and taken back at most twice a minute', () => {
    const claim = (net: MiniNet, by: string, incarnation: number) => {
      const node3 = net.cores.get('node-3')!
      const u = { id: 'node-3', peer: 'p:node-3', addrs: ['/sim/node-3'], incarnation, state: 'dead' as const, by }
      net.apply('node-3', node3.receive('p:' + by, { t: 'updates', from: by, updates: [u] }, net.now))
    }
    const flapped = (net: MiniNet) => net.events.some((e) => e.node === 'node-3' && e.event.type === 'flapping')
    /** Cut node-3 off until node-1 holds it dead, then heal; returns when the heal began. */
    const isolateUntilDead = (net: MiniNet): number => {
      net.partition(['node-1', 'node-2', 'node-4', 'node-5'], ['node-3'])
      net.run(6000)
      expect(net.stateOf('node-1', 'node-3')).toBe('dead')
      net.heal()
      return net.now
    }
    /** node-3 hears nothing (a node whose ingress is lost) until node-1 holds it dead; its refutation then reaches
     *  node-1 through node-2, while node-1's probes of it still fail. Returns node-1's effects of that refutation. */
    const deafThenRefutes = (net: MiniNet): Effect[] => {
      net.filter = (_from, to, msg) => (to === 'node-3' ? null : msg)
      net.run(6000)
      expect(net.stateOf('node-1', 'node-3')).toBe('dead')
      return refutesThroughNode2(net)
    }
    /** node-3's refutation (its next incarnation, alive) reaches node-1 through node-2; returns node-1's effects. */
    const refutesThroughNode2 = (net: MiniNet): Effect[] => {
      const node1 = net.cores.get('node-1')!
      const back = { id: 'node-3', peer: 'p:node-3', addrs: ['/sim/node-3'], incarnation: node1.member('node-3')!.incarnation + 1, state: 'alive' as const }
      const effects = node1.receive('p:node-2', { t: 'updates', from: 'node-2', updates: [back] }, net.now)
      net.apply('node-1', effects)
      return effects
    }
    /** Nothing reaches node-3 but the next `n` pings from node-1; returns how many of those are still to go. */
    const letPingsThrough = (net: MiniNet, n: number): (() => number) => {
      let through = n
      net.filter = (from, to, msg) => {
        if (to !== 'node-3') return msg
        if (from === 'node-1' && msg.t === 'ping' && through > 0) {
          through--
          return msg
        }
        return null
      }
      return () => through
    }
    /** A held first return's answers in a row (F2): MiniNet delivers on its next 10 ms step, a round trip is 20 ms. */
    const CHAIN_MS = READMIT_ANSWERS * 20
    const aliveAt = (net: MiniNet, observer: string, since: number) =>
      net.events.find((e) => e.node === observer && e.at >= since && e.event.type === 'member-state' && e.event.member.id === 'node-3' && e.event.member.state === 'alive')?.at
    /** The fault on node-3's ingress ends (the filter goes): ms until node-1 holds node-3 alive again. */
    const healReturnMs = (net: MiniNet, runMs: number): number => {
      net.filter = null
      const healed = net.now
      net.run(runMs)
      return aliveAt(net, 'node-1', healed)! - healed
    }

    it('F2: an observer that removed a member twice within a minute takes it back only after 12 s of answers', () => {
      const net = cluster(5)
      const cut = () => net.partition(['node-1', 'node-2', 'node-4', 'node-5'], ['node-3'])
      const healed1 = isolateUntilDead(net)
      net.run(2000)
      // The first return is taken at once: it may be a partition that healed.
      expect(aliveAt(net, 'node-1', healed1)! - healed1).toBeLessThanOrEqual(500 + CHAIN_MS)
      cut()
      net.run(6000)
      expect(net.stateOf('node-1', 'node-3')).toBe('dead')
      // node-3's refutation reaches node-1 by gossip while node-1's own re-probes still fail: held.
      refutesThroughNode2(net)
      expect(net.events.some((e) => e.node === 'node-1' && e.event.type === 'readmission-held')).toBe(true)
      expect(net.stateOf('node-1', 'node-3')).toBe('dead')
      net.heal()
      const healed2 = net.now
      net.run(20_000)
      const at = aliveAt(net, 'node-1', healed2)
      expect(at).toBeDefined()
      expect(at! - healed2).toBeGreaterThanOrEqual(12_000)
      expect(net.stateOf('node-1', 'node-3')).toBe('alive')
      // Every observer's view of node-3 in the minute: removed twice, taken back twice.
      for (const o of ['node-1', 'node-2', 'node-4', 'node-5']) {
        const into = (state: string) => net.events.filter((e) => e.node === o && e.event.type === 'member-state' && e.event.member.id === 'node-3' && e.event.member.state === state).length
        expect(into('dead'), o).toBe(2)
        expect(into('alive'), o).toBe(2)
      }
    })

    it('F2: a first return is held while this node\'s probes of the member go unanswered, and taken once one is', () => {
      const net = cluster(5)
      // Held, and probed.
      const held = deafThenRefutes(net)
      expect(held.some((e) => e.type === 'emit' && e.event.type === 'readmission-held' && e.event.until === 'answered')).toBe(true)
      expect(held.some((e) => e.type === 'send' && e.to === 'p:node-3' && e.msg.t === 'ping' && e.msg.revive === true)).toBe(true)
      // ... and through helpers at once: node-1's own path to node-3 may have stalled across the fault.
      expect(held.filter((e) => e.type === 'send' && e.msg.t === 'ping-req' && e.msg.target === 'node-3').length).toBeGreaterThan(0)
      net.run(3000)
      expect(net.stateOf('node-1', 'node-3')).toBe('dead')
      // The fault ends: the next probes are answered, and node-3 is back at once, not after FLAP_HOLD_MS.
      expect(healReturnMs(net, 2000)).toBeLessThanOrEqual(600 + CHAIN_MS)
      const into = (state: string) => net.events.filter((e) => e.node === 'node-1' && e.event.type === 'member-state' && e.event.member.id === 'node-3' && e.event.member.state === state).length
      expect(into('dead')).toBe(1)
      expect(into('alive')).toBe(1)
    })

    it(`F2: answers that slip through the fault do not take a first return back; ${READMIT_ANSWERS} in a row do`, () => {
      const net = cluster(5)
      deafThenRefutes(net)
      net.run(1000)
      // All but the last of the answers needed get through (80% ingress loss lets some by): each of node-1's direct
      // pings to node-3, one after the other, and then none.
      const left = letPingsThrough(net, READMIT_ANSWERS - 1)
      net.run(3000)
      expect(left()).toBe(0)
      expect(net.stateOf('node-1', 'node-3')).toBe('dead')
      expect(healReturnMs(net, 2000)).toBeLessThanOrEqual(600 + CHAIN_MS)
    })

    it('F2: a return that comes right after one answer slipped through is held: that answer only starts the count', () => {
      const net = cluster(5)
      net.filter = (_from, to, msg) => (to === 'node-3' ? null : msg)
      net.run(6000)
      expect(net.stateOf('node-1', 'node-3')).toBe('dead')
      // One of node-1's re-probes of node-3 gets through, and its answer comes back.
      const left = letPingsThrough(net, 1)
      const from = net.sent.length
      for (let i = 0; i < 400 && !net.sent.slice(from).some((e) => e.from === 'node-3' && e.to === 'node-1' && e.msg.t === 'ack'); i++) net.run(10)
      net.run(20)
      expect(left()).toBe(0)
      // node-3's refutation reaches node-1 through node-2 now, while node-1's latest probe of it was answered.
      refutesThroughNode2(net)
      net.run(3000)
      // With a single answer as the verdict, node-1 took it back at once.
      expect(net.stateOf('node-1', 'node-3')).toBe('dead')
      expect(healReturnMs(net, 3000)).toBeLessThanOrEqual(600 + CHAIN_MS)
    })

    it('F2: through 80% ingress loss (each message to the node dropped at random) a held first return stays held', () => {
      for (const seed of [1, 2, 3, 4, 5, 6]) {
        const net = cluster(5, seed)
        deafThenRefutes(net)
        const heldAt = net.now
        // A seeded generator, so a failure can be replayed: every message to node-3 is kept with probability 0.2.
        let x = seed * 2654435761
        const keep = () => {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0
          return x / 2 ** 32 < 0.2
        }
        net.filter = (_from, to, msg) => (to !== 'node-3' || keep() ? msg : null)
        net.run(30_000)
        // With two answers in a row, node-1 took node-3 back during the fault in most of these seeds.
        expect(aliveAt(net, 'node-1', heldAt), `seed ${seed}`).toBeUndefined()
        expect(healReturnMs(net, 3000), `seed ${seed}`).toBeLessThanOrEqual(600 + CHAIN_MS)
      }
    })

    it('F2: a member restarted (a new boot nonce) is taken back at once, however often it was removed', () => {
      const net = cluster(5, 1, { boot: 'boot-0' })
      for (let i = 1; i <= 2; i++) {
        net.crash('node-3')
        net.run(4000)
        expect(net.stateOf('node-1', 'node-3')).toBe('dead')
        net.add('node-3', { boot: `boot-${i}` }, ['node-1'])
        const started = net.now
        net.run(3000)
        expect(aliveAt(net, 'node-1', started), `restart ${i}`).toBeDefined()
      }
      expect(net.events.some((e) => e.event.type === 'readmission-held')).toBe(false)
    })

    it('F1: a suspicion refuted while unwell, then a death: flapping, unless the suspicion came in the first seconds', () => {
      for (const [startAt, flaps] of [[6000, false], [F1_STARTUP_GRACE_MS + 5000, true]] as const) {
        const net = cluster(5)
        net.run(startAt - net.now)
        const node3 = net.cores.get('node-3')!
        // The answers to node-3's own probes are lost, so its local health drops while the others still hear it; a
        // suspicion reaches it then, refuted while unwell.
        net.filter = (_from, to, msg) => (to === 'node-3' && (msg.t === 'ack' || msg.t === 'nack') ? null : msg)
        net.run(2000)
        const suspect = { id: 'node-3', peer: 'p:node-3', addrs: ['/sim/node-3'], incarnation: node3.member('node-3')!.incarnation, state: 'suspect' as const, by: 'node-1' }
        net.apply('node-3', node3.receive('p:node-1', { t: 'updates', from: 'node-1', updates: [suspect] }, net.now))
        net.filter = null
        net.run(3000)
        expect(net.stateOf('node-1', 'node-3')).toBe('alive')
        // Cut off again until the others declare it dead; the heal brings it the verdict.
        const healed = isolateUntilDead(net)
        net.run(2000)
        expect(flapped(net), `first claim at ${startAt} ms`).toBe(flaps)
        if (!flaps) expect(aliveAt(net, 'node-1', healed)! - healed).toBeLessThanOrEqual(500 + CHAIN_MS)
      }
    })

    it('one accuser, again and again, while this node is well: every claim refuted, never flapping', () => {
      const net = cluster(5)
      const node3 = net.cores.get('node-3')!
      const inc = node3.member('node-3')!.incarnation
      for (let i = 0; i < 4; i++) {
        claim(net, 'node-5', inc + i)
        expect(node3.member('node-3')!.incarnation).toBe(inc + i + 1)
        net.run(2000)
      }
      expect(flapped(net)).toBe(false)
    })
  })
})
