// A peer that never reads its stream (libp2p nodes in process on 127.0.0.1): the sender's queue to it stays
// bounded (beyond it messages are dropped and counted), and messages to every other peer flow on meanwhile,
// so one stuck peer cannot hold up the probes and lease messages the master depends on. (A write that cannot
// complete at all fails after WRITE_TIMEOUT_MS and is reported as send-failed; yamux and the socket buffers
// absorb this test's 7 MB first, so that path is not what this test shows.)
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/agent/metrics.ts'
import type { Message, Observation } from '../../src/core/types.ts'
import { buildNode, type Node } from '../../src/net/node.ts'
import { DIRECT_PROTOCOL, Net } from '../../src/net/shell.ts'
import { counter } from './flood-tools.ts'

const nets: Net[] = []
const nodes: Node[] = []
afterEach(async () => {
  await Promise.all(nets.splice(0).map((n) => n.stop()))
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

async function net(): Promise<{ net: Net; got: Message[]; obs: Observation[]; metrics: ReturnType<typeof createMetrics> }> {
  const metrics = createMetrics(() => null)
  const n = await Net.create({ privateKey: await generateKeyPair('Ed25519'), listen: '/ip4/127.0.0.1/tcp/0', bootstrap: [], mdns: false, logger: pino({ level: 'silent' }), metrics })
  nets.push(n)
  await n.start()
  const p = { net: n, got: [] as Message[], obs: [] as Observation[], metrics }
  n.attach({ message: (_from, msg) => p.got.push(msg), observe: (o) => p.obs.push(o) })
  return p
}

/** A ~60 KB valid membership message. */
function bulky(i: number): Message {
  const addr = '/ip4/10.0.0.1/tcp/7946/' + 'x'.repeat(900)
  return { t: 'updates', from: 'a', updates: Array.from({ length: 1 }, () => ({ id: `n-${i}`, peer: 'p', addrs: Array.from({ length: 60 }, () => addr), incarnation: i, state: 'alive' as const })) }
}

describe('a peer that never reads', () => {
  it('costs its sender a bounded queue, never the traffic to other peers', async () => {
    const a = await net()
    const b = await net()
    const held: Stream[] = []
    const stuck = await buildNode({ privateKey: await generateKeyPair('Ed25519'), listen: '/ip4/127.0.0.1/tcp/0', bootstrapWithPeerId: [], mdns: false })
    nodes.push(stuck)
    await stuck.handle(DIRECT_PROTOCOL, ({ stream }) => void held.push(stream)) // accepts, never reads
    await stuck.start()
    const stuckPeer = stuck.peerId.toString()
    const stuckAddrs = stuck.getMultiaddrs().map((m) => m.toString())

    // 300 bulky messages (18 MB) at the stuck peer: the per-peer queue keeps at most 128 of them.
    for (let i = 0; i < 300; i++) a.net.send(stuckPeer, stuckAddrs, bulky(i))
    // Meanwhile a probe-like message to b every 20 ms for 3 s: each must arrive, in order, well within the 2 s
    // write timeout that a sender blocked behind the stuck peer would show.
    const sentAt: number[] = []
    const gotAt: number[] = []
    const seen = b.got.length
    const poll = setInterval(() => {
      while (gotAt.length < b.got.length - seen) gotAt.push(performance.now())
    }, 5)
    for (let i = 0; i < 150; i++) {
      sentAt.push(performance.now())
      a.net.send(b.net.peerId, b.net.addrs(), { t: 'nack', seq: i, from: 'a' })
      await new Promise((r) => setTimeout(r, 20))
    }
    const until = performance.now() + 5_000
    while (b.got.length < 150 && performance.now() < until) await new Promise((r) => setTimeout(r, 20))
    clearInterval(poll)
    expect(b.got.map((m) => (m as { seq: number }).seq)).toEqual([...Array(150).keys()])
    const worst = Math.max(...gotAt.map((t, i) => t - sentAt[i]))
    expect(worst).toBeLessThan(1_000)

    // What the stuck peer costs its sender is bounded: everything beyond the queue was dropped and counted.
    const text = await a.metrics.registry.metrics()
    expect(counter(text, 'conclave_send_queue_dropped_total')).toBe(300 - 128)
    expect(counter(text, 'conclave_messages_sent_total', 'type="updates"')).toBeLessThanOrEqual(128)
    for (const s of held) s.abort(new Error('test over'))
  }, 30_000)
})
