// Twin rule (src/core/twin.ts): a second process with the same node key (a copied data dir) is told apart from a
// restart by the boot nonce in its signed self-claim and by its incarnation.
import { describe, expect, it } from 'vitest'
import { mulberry32 } from './mini-net.ts'
import { protocolDefaults } from '../../src/core/defaults.ts'
import { ClusterCore } from '../../src/core/node.ts'
import { bootNonce } from '../../src/core/twin.ts'
import type { CoreEvent, Effect, Message, StoredState } from '../../src/core/types.ts'

/** Nodes addressed by address, not by id: two processes with one key (one peer id) are two nodes here. */
class AddrNet {
  now = 0
  readonly nodes = new Map<string, { core: ClusterCore; peer: string; up: boolean }>()
  readonly stored = new Map<string, StoredState>()
  readonly events: Array<{ at: number; node: string; event: CoreEvent }> = []
  private queue: Array<{ at: number; fromPeer: string; to: string; msg: Message }> = []

  /** `addr` names the node (its data dir is stored under it); `dataOf` starts it from another node's stored state. */
  start(addr: string, id: string, opts: { peer?: string; dataOf?: string; seeds?: string[]; newKey?: boolean } = {}): ClusterCore {
    const peer = opts.peer ?? 'p:' + id
    const stored = this.stored.get(opts.dataOf ?? addr)
    const core = new ClusterCore(
      { ...protocolDefaults, id, peer, addrs: [addr], wallClockAtStart: 1_700_000_000_000 + this.now, boot: bootNonce(1_700_000_000_000 + this.now, addr), newKey: opts.newKey ?? false, ...(stored ? { stored: structuredClone(stored) } : {}) },
      mulberry32(this.nodes.size + 7),
      this.now,
    )
    this.nodes.set(addr, { core, peer, up: true })
    const seeds = (opts.seeds ?? []).map((a) => ({ peer: this.nodes.get(a)!.peer, addrs: [a] }))
    this.apply(addr, core.start(seeds, this.now))
    return core
  }

  stop(addr: string): void {
    this.nodes.get(addr)!.up = false
  }

  private apply(addr: string, effects: Effect[]): void {
    const from = this.nodes.get(addr)!
    for (const e of effects) {
      if (e.type === 'emit') this.events.push({ at: this.now, node: addr, event: e.event })
      else if (e.type === 'persist') this.stored.set(addr, structuredClone(e.state))
      else if (e.type === 'send') {
        // A send is a dial of the addresses the core gave (as libp2p does), else of the peer's only node.
        const to = e.addrs.find((a) => this.nodes.has(a)) ?? [...this.nodes].find(([, n]) => n.peer === e.to)?.[0]
        if (to !== undefined && to !== addr) this.queue.push({ at: this.now + 2, fromPeer: from.peer, to, msg: structuredClone(e.msg) })
      } else for (const to of this.nodes.keys()) if (to !== addr) this.queue.push({ at: this.now + 2, fromPeer: from.peer, to, msg: structuredClone(e.msg) })
    }
  }

  run(ms: number): void {
    const end = this.now + ms
    while (this.now < end) {
      this.now += 10
      this.queue.sort((a, b) => a.at - b.at)
      while (this.queue.length && this.queue[0]!.at <= this.now) {
        const m = this.queue.shift()!
        const n = this.nodes.get(m.to)
        if (n?.up && n.peer !== m.fromPeer) this.apply(m.to, n.core.receive(m.fromPeer, m.msg, this.now))
      }
      for (const [addr, n] of this.nodes) if (n.up) this.apply(addr, n.core.tick(this.now))
    }
  }

  twinStops(addr: string): CoreEvent[] {
    return this.events.filter((e) => e.node === addr && e.event.type === 'id-conflict' && e.event.fatal).map((e) => e.event)
  }
}

function threeNodes(): AddrNet {
  const net = new AddrNet()
  net.start('/a/1', 'node-1', { newKey: true })
  net.run(100)
  net.start('/a/2', 'node-2', { seeds: ['/a/1'], newKey: true })
  net.start('/a/3', 'node-3', { seeds: ['/a/1'], newKey: true })
  net.run(6000)
  return net
}

/** Exactly one of the two processes with node-2's key stops; once it is gone, the others reach the survivor. */
function oneStopsOtherStays(net: AddrNet, a: string, b: string): void {
  const stops = [...net.twinStops(a).map(() => a), ...net.twinStops(b).map(() => b)]
  expect(stops).toHaveLength(1)
  const stopper = stops[0]!
  const survivor = stopper === a ? b : a
  const e = net.twinStops(stopper)[0]!
  expect(e).toMatchObject({ type: 'id-conflict', id: 'node-2', peer: 'p:node-2', fatal: true, twin: { addrs: [survivor] } })
  // The agent stops on that event.
  net.stop(stopper)
  net.run(4000)
  for (const o of ['/a/1', '/a/3']) expect(net.nodes.get(o)!.core.member('node-2')).toMatchObject({ state: 'alive', addrs: [survivor] })
  expect(net.twinStops(survivor)).toEqual([])
}

describe('twin rule (core/twin.ts)', () => {
  it('a restart on another address claims one incarnation above its stored one and is no twin (W2)', () => {
    const net = threeNodes()
    const before = net.stored.get('/a/2')!.incarnation
    net.stop('/a/2')
    net.run(300)
    // Same data dir, another address (a restart on another port), a later boot.
    net.stored.set('/a/2b', net.stored.get('/a/2')!)
    net.nodes.delete('/a/2')
    const again = net.start('/a/2b', 'node-2', { seeds: ['/a/1'] })
    expect(again.status(net.now).incarnation).toBe(before + 1)
    net.run(5000)
    expect(net.events.filter((e) => e.event.type === 'id-conflict')).toEqual([])
    for (const a of ['/a/1', '/a/3']) expect(net.nodes.get(a)!.core.member('node-2')).toMatchObject({ state: 'alive', addrs: ['/a/2b'] })
  })

  it('a restart right after a crash that persisted a raised incarnation is no twin either', () => {
    const net = threeNodes()
    // node-2 refutes a suspicion (incarnation raised, persisted, claimed), then crashes at once.
    const n2 = net.nodes.get('/a/2')!.core
    const inc = n2.status(net.now).incarnation
    net.nodes.get('/a/1')!.core.receive('p:node-3', { t: 'updates', from: 'node-3', updates: [{ ...n2.member('node-2')!, state: 'suspect', by: 'node-3' }] }, net.now)
    net.run(200)
    expect(net.stored.get('/a/2')!.incarnation).toBeGreaterThan(inc)
    net.stop('/a/2')
    net.nodes.delete('/a/2')
    net.start('/a/2', 'node-2', { seeds: ['/a/3'] })
    net.run(5000)
    expect(net.events.filter((e) => e.event.type === 'id-conflict')).toEqual([])
  })

  it('a copy of a data dir started beside the original: one of the two stops with a twin conflict (W3)', () => {
    const net = threeNodes()
    net.start('/copy/2', 'node-2', { dataOf: '/a/2', seeds: ['/a/1'] })
    net.run(3000)
    oneStopsOtherStays(net, '/a/2', '/copy/2')
  })

  it('the same when the original has stored state too (it restarted before the copy was started)', () => {
    const net = threeNodes()
    net.stop('/a/2')
    net.nodes.delete('/a/2')
    net.run(100)
    net.start('/a/2', 'node-2', { seeds: ['/a/1'] })
    net.run(3000)
    net.start('/copy/2', 'node-2', { dataOf: '/a/2', seeds: ['/a/3'] })
    net.run(3000)
    oneStopsOtherStays(net, '/a/2', '/copy/2')
  })

  it('a node without stored state on an old key takes a claim of another boot as its previous run, not as a twin (W4)', () => {
    const net = threeNodes()
    net.stop('/a/2')
    net.nodes.delete('/a/2')
    net.stored.delete('/a/2')
    net.run(300)
    net.start('/a/2', 'node-2', { seeds: ['/a/1'] })
    net.run(4000)
    expect(net.events.filter((e) => e.event.type === 'id-conflict')).toEqual([])
    expect(net.nodes.get('/a/1')!.core.member('node-2')).toMatchObject({ state: 'alive' })
  })

  // Simulator seed 452: a lost-state restart crashed in its first step, after persisting incarnation 0; the run
  // after it claimed 1, heard the run before the lost one claim 1 under another boot, and stopped as its own twin.
  it('a run after a W4 run that crashed at once is no twin of the runs before (W5)', () => {
    const net = threeNodes()
    const n2 = net.nodes.get('/a/2')!.core
    net.nodes.get('/a/1')!.core.receive('p:node-3', { t: 'updates', from: 'node-3', updates: [{ ...n2.member('node-2')!, state: 'suspect', by: 'node-3' }] }, net.now)
    net.run(200)
    const raised = net.stored.get('/a/2')!.incarnation
    expect(raised).toBeGreaterThan(0)
    net.stop('/a/2')
    net.nodes.delete('/a/2')
    net.stored.delete('/a/2')
    net.run(300)
    // The W4 run: its first step persists, then it crashes before anything is heard.
    net.start('/a/2', 'node-2', { seeds: ['/a/1'] })
    net.stop('/a/2')
    net.nodes.delete('/a/2')
    expect(net.stored.get('/a/2')).toMatchObject({ incarnation: 0, historyUnknown: true })
    net.run(300)
    net.start('/a/2', 'node-2', { seeds: ['/a/1'] })
    net.run(4000)
    expect(net.events.filter((e) => e.event.type === 'id-conflict')).toEqual([])
    for (const a of ['/a/1', '/a/3']) expect(net.nodes.get(a)!.core.member('node-2')).toMatchObject({ state: 'alive' })
    // Once it has synced and refuted above its earlier runs, its incarnation is a bound again: a copy is caught.
    expect(net.stored.get('/a/2')!.historyUnknown).toBeUndefined()
    expect(net.stored.get('/a/2')!.incarnation).toBeGreaterThan(raised)
    net.stop('/a/2')
    net.nodes.delete('/a/2')
    net.start('/a/2', 'node-2', { seeds: ['/a/1'] })
    net.run(3000)
    net.start('/copy/2', 'node-2', { dataOf: '/a/2', seeds: ['/a/3'] })
    net.run(3000)
    oneStopsOtherStays(net, '/a/2', '/copy/2')
  })
})
