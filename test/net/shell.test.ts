// The libp2p shell with two in-process nodes on 127.0.0.1: direct messages over the long-lived stream,
// broadcasts, bad input from a peer (dropped, counted, logged once), and send failures.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { encode } from '@msgpack/msgpack'
import { lpStream } from 'it-length-prefixed-stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/agent/metrics.ts'
import type { Message, Observation } from '../../src/core/types.ts'
import { MAX_MESSAGE_BYTES } from '../../src/core/codec.ts'
import { DIRECT_PROTOCOL, Net, type Channel } from '../../src/net/shell.ts'

interface Peer {
  net: Net
  got: { from: string; msg: Message; channel: Channel }[]
  obs: Observation[]
  logs: string[]
  metrics: ReturnType<typeof createMetrics>
}

const nets: Net[] = []
afterEach(async () => {
  await Promise.all(nets.splice(0).map((n) => n.stop()))
})

async function peer(bootstrap: string[] = []): Promise<Peer> {
  const logs: string[] = []
  const logger = pino({ level: 'debug' }, { write: (s: string) => void logs.push(s) })
  const metrics = createMetrics(() => null)
  const net = await Net.create({ privateKey: await generateKeyPair('Ed25519'), listen: '/ip4/127.0.0.1/tcp/0', bootstrap, mdns: false, logger, metrics })
  nets.push(net)
  await net.start()
  const p: Peer = { net, got: [], obs: [], logs, metrics }
  net.attach({ message: (from, msg, channel) => p.got.push({ from, msg, channel }), observe: (o) => p.obs.push(o) })
  return p
}

async function until<T>(what: string, f: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = performance.now() + ms
  for (;;) {
    const v = f()
    if (v) return v
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const counter = async (p: Peer, name: string, labels: string) => {
  const text = await p.metrics.registry.metrics()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`) || (labels === '' && l.startsWith(`${name} `)))
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0
}

describe('libp2p shell', () => {
  it('delivers direct messages over one long-lived stream, dialing on demand', async () => {
    const a = await peer()
    const b = await peer()
    for (let i = 0; i < 50; i++) a.net.send(b.net.peerId, b.net.addrs(), { t: 'nack', seq: i, from: 'a' })
    await until('50 messages', () => b.got.length === 50)
    expect(b.got.map((g) => (g.msg as { seq: number }).seq)).toEqual([...Array(50).keys()])
    expect(b.got.every((g) => g.from === a.net.peerId && g.channel === 'direct')).toBe(true)
    expect(await counter(a, 'conclave_direct_streams_opened_total', '')).toBe(1)
    expect(await counter(a, 'conclave_messages_sent_total', 'type="nack",channel="direct"')).toBe(50)
    expect(await counter(b, 'conclave_messages_received_total', 'type="nack",channel="direct"')).toBe(50)
    // both sides observed the connection
    await until('peer-connected on b', () => b.obs.some((o) => o.type === 'peer-connected' && o.peer === a.net.peerId))
  })

  it('broadcasts on the membership topic once the peer has subscribed', async () => {
    const a = await peer()
    const b = await peer([a.net.addrs()[0]])
    await until('subscription', () => a.net.node.services.pubsub.getSubscribers('conclave/membership/1').length === 1)
    a.net.broadcast({ t: 'updates', from: 'a', updates: [] })
    const got = await until('broadcast', () => b.got.find((g) => g.channel === 'broadcast'))
    expect(got).toMatchObject({ from: a.net.peerId, msg: { t: 'updates', from: 'a' } })
  })

  it('drops bad messages from a peer, counts them by reason, logs once per peer and reason, and keeps serving', async () => {
    const a = await peer()
    const b = await peer()
    await a.net.node.dial(b.net.node.getMultiaddrs()[0])
    const stream = await a.net.node.dialProtocol(b.net.node.peerId, DIRECT_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(new Uint8Array([0xc1])) // never valid msgpack: refused by the structural scan
    await lp.write(new Uint8Array([0xc1]))
    await lp.write(encode({ t: 'ping', seq: -1, from: 'x', gossip: [] })) // fails the schema
    await lp.write(encode({ t: 'nack', seq: 1, from: 'good' }))
    await until('the good message', () => b.got.length === 1)
    expect(await counter(b, 'conclave_bad_messages_dropped_total', 'reason="structure"')).toBe(2)
    expect(await counter(b, 'conclave_bad_messages_dropped_total', 'reason="schema"')).toBe(1)
    const warned = b.logs.filter((l) => l.includes('dropped a bad message'))
    expect(warned).toHaveLength(2) // one per (peer, reason)

    // An oversized frame loses the framing: counted as too-big and that stream is dropped, the node carries on.
    await lp.write(new Uint8Array(MAX_MESSAGE_BYTES + 1)).catch(() => {})
    await until('too-big logged', () => b.logs.some((l) => l.includes('"reason":"too-big"')))
    expect(await counter(b, 'conclave_bad_messages_dropped_total', 'reason="too-big"')).toBe(1)
    a.net.send(b.net.peerId, b.net.addrs(), { t: 'nack', seq: 2, from: 'a' })
    await until('a later good message on a fresh stream', () => b.got.length === 2)
  })

  it('reports send-failed when the peer cannot be reached', async () => {
    const a = await peer()
    const b = await peer()
    const target = b.net.peerId
    const addrs = b.net.addrs()
    await b.net.stop()
    a.net.send(target, addrs, { t: 'nack', seq: 1, from: 'a' })
    await until('send-failed', () => a.obs.some((o) => o.type === 'send-failed' && o.peer === target))
    expect(await counter(a, 'conclave_send_failures_total', 'cause="dial"')).toBe(1)
    // Nothing listens on the port any more: the host refused the dial, which the core takes as evidence (M1).
    expect(a.obs.find((o) => o.type === 'send-failed' && o.peer === target)).toMatchObject({ refused: true })
  })
  it('a reconnect message (a revive probe) over a connection silent for a second goes over a new connection, and the answer follows it', async () => {
    const a = await peer()
    const b = await peer()
    const ping = (seq: number, revive: boolean): Message => ({ t: 'ping', seq, from: 'a', gossip: [], ...(revive ? { revive: true as const } : {}) })
    a.net.send(b.net.peerId, b.net.addrs(), ping(1, false))
    await until('first ping', () => b.got.length === 1)
    b.net.send(a.net.peerId, a.net.addrs(), { t: 'ack', seq: 1, from: 'b', gossip: [] })
    await until('first ack', () => a.got.length === 1)
    const conns = () => a.net.node.getConnections(b.net.node.peerId).filter((c) => c.status === 'open')
    expect(conns()).toHaveLength(1)
    // An ordinary probe right away: the connection was just heard from, nothing new is dialed.
    a.net.send(b.net.peerId, b.net.addrs(), ping(2, true), true)
    await until('second ping', () => b.got.length === 2)
    expect(await counter(a, 'conclave_stalled_redials_total', '')).toBe(0)
    // Nothing heard for over STALL_MS (1 s): as after a partition, when TCP's retransmissions back off.
    await new Promise((r) => setTimeout(r, 1_200))
    a.net.send(b.net.peerId, b.net.addrs(), ping(3, true), true)
    await until('third ping', () => b.got.length === 3)
    expect(await counter(a, 'conclave_stalled_redials_total', '')).toBe(1)
    expect(conns()).toHaveLength(2)
    // b answers on the connection it last heard from: the new one.
    const fresh = conns().sort((x, y) => y.timeline.open - x.timeline.open)[0]!
    b.net.send(a.net.peerId, a.net.addrs(), { t: 'ack', seq: 3, from: 'b', gossip: [] })
    await until('second ack', () => a.got.length === 2)
    expect(fresh.streams.filter((st) => st.protocol === DIRECT_PROTOCOL).map((st) => st.direction).sort()).toEqual(['inbound', 'outbound'])
  })
})
