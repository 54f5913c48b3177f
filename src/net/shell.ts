// The libp2p adapter: turns wire bytes into core inputs and core effects into streams and publishes.
// Nothing here decides anything about the protocol.
import type { Message as PubsubMessage } from '@libp2p/interface'
import type { Connection, ConnectionProtector, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { lpStream, type LengthPrefixedStream } from 'it-length-prefixed-stream'
import type { Logger } from 'pino'
import { Gauge } from 'prom-client'
import type { AgentMetrics } from '../agent/metrics.ts'
import type { AgentNet, RequestHandler, RequestOptions } from '../agent/types.ts'
import type { Message, Observation, PeerKey } from '../core/types.ts'
import { decodeMessage, encodeMessage, MAX_MESSAGE_BYTES, type BadReason } from '../core/codec.ts'
import { encode as lpEncode } from 'it-length-prefixed'
import { deadlineAfter, FrameReader, InboundLimits, type InboundLimitOptions } from './limits.ts'
import { BOOTSTRAP_TAG, buildNode, MDNS_SERVICE_TAG, type Node } from './node.ts'
import { LanQuery } from './lan-query.ts'
import { wireStatsEnabled } from './wire-stats.ts'
import { ConnectionMonitor, GOSSIPSUB_PROTOCOL } from './monitor.ts'

export const DIRECT_PROTOCOL = '/conclave/swim/1.0.0'
export const MEMBERSHIP_TOPIC = 'conclave/membership/1'

const DIAL_TIMEOUT_MS = 1_500
/**
 * A connection from which nothing was heard for this long is stalled for a message the core marks `reconnect` (a
 * probe of a member it holds gone, its own return from the dead): a healthy pair at 10 agents hears from each other
 * every 2-5 s, but across a partition nothing arrives. TCP keeps such a connection open and backs off its
 * retransmissions (0.2, 0.4, 0.8, 1.6 s ...), so after a healed partition the next segment can leave seconds
 * late: 0.96 s from heal to alive in every view was measured (docs/bench-membership-faults.md).
 */
const STALL_MS = 1_000
/**
 * Dial timeout of a revive probe. Linux retransmits a lost SYN after 1 s, then 3 s; a LAN connect plus the noise
 * and yamux upgrade takes 30-50 ms (../shared/notes). Aborting after 450 ms means every revive probe (one per
 * 500 ms probe round for a member that just died, probes.ts FAST_REVIVE_MS) sends a fresh SYN, so a healed link
 * is found within one round instead of at the next SYN retransmission.
 */
const REVIVE_DIAL_TIMEOUT_MS = 450
/**
 * A forced dial that succeeds costs both ends a noise handshake, and on a starved host every connection looks
 * stalled: 30 agents started at once on 2 cores did not form within 190 s with unbounded forced dials (they formed
 * in 121 s without). So a sender opens at most one forced connection per FORCED_PER_PEER_MS, and a node one per
 * FORCED_DIAL_SPACING_MS in all. A forced dial that fails (the SYN of a re-probe across a partition) costs next to
 * nothing and is not counted: those must go on every re-probe, so that a heal is found within one.
 */
const FORCED_PER_PEER_MS = 30_000
const FORCED_DIAL_SPACING_MS = 5_000
/** A write that cannot complete this long (peer stopped, yamux window full) fails the send. */
const WRITE_TIMEOUT_MS = 2_000
/** Per-peer queue bound: protocol messages are time-sensitive, old ones are worth little. */
const SEND_QUEUE_MAX = 128
const MAX_BATCH = 32
const MAX_REQUEST_BYTES = 4 * 1024 * 1024
const BOOTSTRAP_RETRY_MS = 1_000
const DISCOVERY_FALLBACK_MS = 1_000
const BOOTSTRAP_MAX_ATTEMPTS = 300
/** Membership-rate refusals on one inbound stream within STRIKE_WINDOW_MS after which the stream is dropped. */
const MAX_STRIKES = 5
const STRIKE_WINDOW_MS = 10_000

export type Channel = 'direct' | 'broadcast'

export interface NetSink {
  message(from: PeerKey, msg: Message, channel: Channel): void
  observe(obs: Observation): void
}

export interface NetOptions {
  privateKey: PrivateKey
  listen: string
  bootstrap: string[]
  mdns: boolean
  logger: Logger
  metrics: AgentMetrics
  /** Per-peer inbound limits (src/net/limits.ts); defaults in docs/limits.md. */
  limits?: Partial<InboundLimitOptions>
  /** The cluster key protector (cluster-key.ts); absent: an unkeyed cluster. */
  connectionProtector?: () => ConnectionProtector
  onPeerLimit?: (peer: string) => void
  /** The core's probe interval: how often a pair of agents hears from each other (monitor.ts silenceMs). */
  probeIntervalMs?: number
}

/** A problem the operator must fix (port in use, unusable address); the CLI prints it as one line. */
export class NetError extends Error {
  override name = 'NetError'
}

interface Outgoing {
  bytes: Uint8Array
  type: string
  retried: boolean
  /** The core's Effect.reconnect: not over a connection that has been silent. */
  reconnect: boolean
  /** A probe of a member the core holds gone (a ping with the revive flag): dialed with the short timeout. */
  revive: boolean
}

/** One long-lived outbound stream per peer with a bounded queue; at most one dial in flight. */
class PeerSender {
  private queue: Outgoing[] = []
  private busy = false
  /** When the first ping written since the peer's last ack went out (a connection can stall one way only). */
  private unansweredSince: number | undefined
  /** The last connection this sender forced open: it is replaced, not added to, when it stalls too. */
  private forced?: Connection
  private forcedOkAt = -Infinity
  private stream?: Stream
  /** The connection `stream` runs on. */
  private conn?: Connection
  private lp?: LengthPrefixedStream<Stream>
  addrs: Multiaddr[] = []
  private addrsKey = ''

  constructor(
    private readonly net: Net,
    readonly peer: PeerId,
  ) {}

  /** The core passes the member's addresses with every message: parse them only when they change. */
  setAddrs(addrs: string[]): void {
    const key = addrs.join(' ')
    if (key === this.addrsKey) return
    this.addrsKey = key
    this.addrs = parseAddrs(addrs)
  }

  enqueue(item: Outgoing): void {
    if (this.queue.length >= SEND_QUEUE_MAX) {
      this.queue.shift()
      this.net.metrics.sendDropped.inc()
    }
    this.queue.push(item)
    if (!this.busy) {
      // Start on the next microtask, so all messages of one core step to this peer share a write.
      this.busy = true
      queueMicrotask(() => void this.pump())
    }
  }

  private async pump(): Promise<void> {
    this.busy = true
    try {
      while (this.queue.length > 0 && !this.net.stopping) {
        // Everything queued goes out in one write: one yamux frame, one noise frame, one syscall.
        const batch = this.queue.slice(0, MAX_BATCH)
        const revive = batch.some((i) => i.revive)
        // Over a stalled connection the message would wait for TCP's retransmission back-off: it goes over a new
        // connection instead. The old one stays (it carries gossipsub's streams, which do not move, and it
        // recovers by itself); the connection monitor closes whichever is the duplicate once both work.
        const fresh = batch.some((i) => i.reconnect) && this.stalled() && this.mayForce()
        let opened = false
        try {
          // writeStatus is 'writing' for the whole life of a healthy stream (its sink is running).
          if (fresh || !this.lp || this.stream?.status !== 'open' || (this.stream.writeStatus !== 'writing' && this.stream.writeStatus !== 'ready')) {
            opened = true
            if (fresh) this.net.metrics.stalledRedials.inc()
            await this.open(revive, fresh)
          }
          await withTimeout(this.lp!.writeV(batch.map((i) => i.bytes)), WRITE_TIMEOUT_MS, 'write')
          if (this.unansweredSince === undefined && batch.some((i) => i.type === 'ping')) this.unansweredSince = performance.now()
          this.queue.splice(0, batch.length)
          for (const item of batch) {
            this.net.metrics.messagesSent.inc({ type: item.type, channel: 'direct' })
            this.net.metrics.bytesSent.inc({ type: item.type, channel: 'direct' }, item.bytes.byteLength)
          }
        } catch (e) {
          this.reset(e as Error)
          // A stale stream (remote restarted, connection replaced) deserves one retry on a fresh one.
          if (!opened && !batch[0].retried) {
            for (const item of batch) item.retried = true
            continue
          }
          const dropped = this.queue.splice(0)
          const cause = opened ? 'dial' : 'write'
          this.net.metrics.sendFailures.inc({ cause }, dropped.length)
          this.net.log.debug({ peer: this.peer.toString(), cause, err: (e as Error).message, dropped: dropped.length }, 'send failed')
          this.net.observe({ type: 'send-failed', peer: this.peer.toString(), refused: opened && isRefused(e) })
        }
      }
    } finally {
      this.busy = false
    }
  }

  /**
   * A stream on the connection last heard from, or on a new connection: `fresh` forces one (the others stalled),
   * `revive` dials with the short timeout.
   */
  private async open(revive: boolean, fresh: boolean): Promise<void> {
    this.reset()
    const node = this.net.node
    if (fresh) {
      // At most one forced connection per peer: the previous one stalled as well (it carries no gossipsub stream,
      // which stays on the connection it was opened on, so nothing else is lost with it).
      const old = this.forced
      this.forced = undefined
      if (old && old.status === 'open' && !old.streams.some((st) => st.protocol !== undefined && GOSSIPSUB_PROTOCOL.test(st.protocol))) old.abort(new Error('stalled'))
      this.unansweredSince = undefined
    }
    const signal = AbortSignal.timeout(revive ? REVIVE_DIAL_TIMEOUT_MS : DIAL_TIMEOUT_MS)
    let conn = fresh ? undefined : this.net.freshestConnection(this.peer)
    if (!conn) {
      if (this.addrs.length > 0 && (fresh || node.getConnections(this.peer).length === 0)) {
        await node.peerStore.merge(this.peer, { multiaddrs: this.addrs })
      }
      try {
        conn = await node.dial(this.peer, { signal, force: fresh })
      } catch (e) {
        if (fresh) this.net.refundForcedDial()
        throw e
      }
      if (fresh) {
        this.forced = conn
        this.forcedOkAt = performance.now()
      }
    }
    const stream = await conn.newStream(DIRECT_PROTOCOL, { signal })
    this.stream = stream
    this.conn = conn
    this.lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
    this.net.metrics.streamsOpened.inc()
  }

  /**
   * Not to be trusted with a message that crosses a possible partition: every connection to the peer has been silent
   * for STALL_MS, or a ping has gone unanswered that long (the connection may carry the peer's messages to us while
   * ours wait in TCP's back-off: after a heal both directions can).
   */
  private stalled(): boolean {
    return this.net.stalled(this.peer) || (this.unansweredSince !== undefined && performance.now() - this.unansweredSince >= STALL_MS)
  }

  /** No forced connection to this peer within FORCED_PER_PEER_MS, and the node's spacing allows one now. */
  private mayForce(): boolean {
    const now = performance.now()
    return now - this.forcedOkAt >= FORCED_PER_PEER_MS && this.net.takeForcedDial(now)
  }

  /** An ack from the peer arrived. */
  answered(): void {
    this.unansweredSince = undefined
  }

  /**
   * A frame from the peer arrived on `connId`. If our stream runs on another connection that went silent, the
   * peer is reachable on this one and not on that one (a stalled connection after a heal, or the peer redialed
   * us): the next send opens its stream here.
   */
  heardOn(connId: string): void {
    if (this.conn && this.conn.id !== connId && !this.busy && this.net.silentMs(this.conn) >= STALL_MS) this.reset()
  }

  /** Forget the stream (after an error or a disconnect); the next send opens a new one. */
  reset(err?: Error): void {
    const s = this.stream
    this.stream = undefined
    this.conn = undefined
    this.lp = undefined
    if (s && s.status === 'open') s.abort(err ?? new Error('reset'))
  }

  async close(): Promise<void> {
    const s = this.stream
    this.stream = undefined
    this.conn = undefined
    this.lp = undefined
    this.queue = []
    if (s && s.status === 'open') await s.close({ signal: AbortSignal.timeout(500) }).catch((e: Error) => s.abort(e))
  }
}

export class Net implements AgentNet {
  stopping = false
  readonly log: Logger
  readonly metrics: AgentMetrics
  private sink?: NetSink
  private pending: (() => void)[] = []
  private readonly senders = new Map<string, PeerSender>()
  private readonly topicHandlers = new Map<string, Set<(from: PeerKey, bytes: Uint8Array) => void>>()
  private readonly badLogged = new Set<string>()
  private readonly inbound = new Set<Stream>()
  private readonly timers = new Set<NodeJS.Timeout>()
  readonly limits: InboundLimits
  private readonly monitor: ConnectionMonitor

  private constructor(
    readonly node: Node,
    private readonly opts: NetOptions,
  ) {
    this.log = opts.logger
    this.metrics = opts.metrics
    this.limits = new InboundLimits(opts.metrics.registry, opts.logger, opts.limits)
    this.monitor = new ConnectionMonitor(node, opts.logger, undefined, undefined, undefined, opts.probeIntervalMs)
    if (opts.mdns) this.lanQuery = new LanQuery(MDNS_SERVICE_TAG, (err) => this.log.warn({ err: err.message }, 'mDNS query failed'))
    new Gauge({
      name: 'conclave_connections',
      help: 'Open libp2p connections (one per connected peer when all is well) and connected peers',
      labelNames: ['kind'],
      registers: [opts.metrics.registry],
      collect() {
        this.set({ kind: 'connections' }, node.getConnections().length)
        this.set({ kind: 'peers' }, node.getPeers().length)
      },
    })
  }

  /** The periodic LAN query, sent only while this node has discovery duty (lan-query.ts); null without mDNS. */
  private readonly lanQuery: LanQuery | null = null

  /** Query the LAN for agents if it is due and `duty` (the core's discoveryDuty) says this node does it. */
  queryLan(duty: () => boolean, now: number): void {
    this.lanQuery?.maybeQuery(duty, now)
  }

  /** A one-shot timer that stop() clears. */
  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    this.timers.add(t)
  }

  get peerId(): PeerKey {
    return this.node.peerId.toString()
  }

  static async create(opts: NetOptions): Promise<Net> {
    const withPeer = opts.bootstrap.filter((a) => multiaddr(a).getPeerId() != null)
    const node = await buildNode({
      privateKey: opts.privateKey,
      listen: opts.listen,
      bootstrapWithPeerId: withPeer,
      mdns: opts.mdns,
      ...(opts.connectionProtector ? { connectionProtector: opts.connectionProtector } : {}),
      ...(opts.onPeerLimit ? { onPeerLimit: opts.onPeerLimit } : {}),
      ...(wireStatsEnabled() ? { wireStats: opts.metrics.registry } : {}),
    })
    return new Net(node, opts)
  }

  /** Start listening. Events that arrive before attach() are held and replayed. */
  async start(): Promise<void> {
    const node = this.node
    node.addEventListener('peer:connect', (e) => {
      const peer = e.detail
      this.observe({ type: 'peer-connected', peer: peer.toString(), addrs: this.knownAddrs(peer) })
    })
    node.addEventListener('peer:disconnect', (e) => {
      const peer = e.detail.toString()
      this.senders.get(peer)?.reset()
      this.observe({ type: 'peer-disconnected', peer })
    })
    node.addEventListener('peer:discovery', (e) => {
      const other = e.detail.id
      const dial = () => {
        if (this.stopping || node.getConnections(other).length > 0) return
        node.dial(other, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS * 2) }).catch((err: Error) => {
          this.log.debug({ peer: other.toString(), err: err.message }, 'dial after discovery failed')
        })
      }
      // Both sides dialing at once would give two connections per pair, so the lower peer id dials first. The
      // higher one dials too if still unconnected a moment later: libp2p announces a peer it already knows only
      // once, so a restarted agent (same key) is discovered by the others' libp2p but never redialed by them.
      if (node.peerId.toString() < other.toString()) dial()
      else this.later(DISCOVERY_FALLBACK_MS, dial)
    })
    await node.handle(DIRECT_PROTOCOL, ({ stream, connection }) => void this.readDirect(stream, connection.remotePeer.toString(), connection.id), {
      // A peer keeps one long-lived stream (a new one after a reset): a few are plenty, and each one a flooder
      // opens can hold what the transport buffers for it.
      maxInboundStreams: 8,
    })
    try {
      await node.start()
    } catch (e) {
      await Promise.resolve(node.stop()).catch(() => {})
      throw describeListenError(e as Error, this.opts.listen)
    }
    this.monitor.start()
    const pubsub = node.services.pubsub
    pubsub.addEventListener('message', (e) => this.onPubsub(e.detail))
    pubsub.subscribe(MEMBERSHIP_TOPIC)
    this.bootstrapWithoutPeerId()
  }

  /** Connect the core: replay held events, then deliver directly. */
  attach(sink: NetSink): void {
    this.sink = sink
    for (const f of this.pending.splice(0)) f()
  }

  /** Announced addresses: loopback ones are dropped when the host has others, since they mislead remote dialers. */
  addrs(): string[] {
    const all = this.node.getMultiaddrs().map((a) => a.toString())
    const nonLoop = all.filter((a) => !/^\/ip4\/127\.|^\/ip6\/::1\//.test(a))
    return nonLoop.length > 0 ? nonLoop : all
  }

  private lastForcedDial = -Infinity
  private beforeForcedDial = -Infinity

  /** The node-wide spacing of forced dials that succeed (FORCED_DIAL_SPACING_MS); true when one may start now. */
  takeForcedDial(now: number): boolean {
    if (now - this.lastForcedDial < FORCED_DIAL_SPACING_MS) return false
    this.beforeForcedDial = this.lastForcedDial
    this.lastForcedDial = now
    return true
  }

  /** The forced dial failed: it made no connection, so it does not count against the spacing. */
  refundForcedDial(): void {
    this.lastForcedDial = this.beforeForcedDial
  }

  /** Open connections to `peer` exist and nothing was heard on any of them for STALL_MS. */
  stalled(peer: PeerId): boolean {
    const open = this.node.getConnections(peer).filter((c) => c.status === 'open')
    return open.length > 0 && open.every((c) => this.monitor.silentMs(c) >= STALL_MS)
  }

  /** The open connection to `peer` heard from most recently (the one a new stream should use). */
  freshestConnection(peer: PeerId): Connection | undefined {
    let best: Connection | undefined
    for (const c of this.node.getConnections(peer)) {
      if (c.status === 'open' && (!best || this.monitor.silentMs(c) < this.monitor.silentMs(best))) best = c
    }
    return best
  }

  silentMs(conn: Connection): number {
    return this.monitor.silentMs(conn)
  }

  observe(obs: Observation): void {
    if (this.stopping) return
    if (this.sink) this.sink.observe(obs)
    else this.pending.push(() => this.sink!.observe(obs))
  }

  private deliver(from: PeerKey, msg: Message, channel: Channel): void {
    if (this.stopping) return
    if (this.sink) this.sink.message(from, msg, channel)
    else this.pending.push(() => this.sink!.message(from, msg, channel))
  }

  private knownAddrs(peer: PeerId): string[] {
    return this.node
      .getConnections(peer)
      .filter((c) => c.direction === 'outbound')
      .map((c) => c.remoteAddr.toString())
  }

  // ---- direct protocol -------------------------------------------------------------------------

  /** Send a message to a peer over its long-lived stream, dialing (with `addrs`) when not connected. */
  send(to: PeerKey, addrs: string[], msg: Message, reconnect = false): void {
    if (this.stopping) return
    const bytes = this.encode(msg, 'message')
    if (!bytes) return
    let sender = this.senders.get(to)
    if (!sender) {
      let peer: PeerId
      try {
        peer = peerIdFromString(to)
      } catch {
        this.log.warn({ peer: to }, 'message not sent: invalid peer id')
        return
      }
      sender = new PeerSender(this, peer)
      this.senders.set(to, sender)
    }
    if (addrs.length > 0) sender.setAddrs(addrs)
    sender.enqueue({ bytes, type: msg.t, retried: false, reconnect, revive: msg.t === 'ping' && msg.revive === true })
  }

  /**
   * Inbound direct stream: frames of at most MAX_MESSAGE_BYTES, each charged to the peer's membership budget
   * before it is decoded. A frame whose length prefix is bad (overlong, too big, or the stream ends inside it)
   * is counted and ends the stream: the framing is lost after it.
   */
  private async readDirect(stream: Stream, from: PeerKey, connId: string): Promise<void> {
    this.inbound.add(stream)
    const reader = new FrameReader(stream.source)
    // Refusals on this stream within STRIKE_WINDOW_MS: a peer that keeps flooding loses the stream (and what the
    // transport buffered for it) instead of being read slowly forever. It may open another, within maxInboundStreams.
    let strikes = 0
    let firstStrike = 0
    try {
      for (;;) {
        const r = await reader.read(MAX_MESSAGE_BYTES)
        if (r.kind === 'end') break
        if (r.kind === 'bad') {
          this.bad(from, r.reason, r.detail)
          stream.abort(new Error(r.detail))
          break
        }
        if (r.kind !== 'frame') break
        this.monitor.heard(connId)
        this.senders.get(from)?.heardOn(connId)
        if (!this.limits.membership.allow(from, r.bytes.byteLength)) {
          this.limits.refuse(from, 'membership-rate', `over ${this.limits.o.membershipMsgsPerSec} messages or ${this.limits.o.membershipBytesPerSec} bytes per second`)
          const now = performance.now()
          if (now - firstStrike > STRIKE_WINDOW_MS) ((strikes = 0), (firstStrike = now))
          if (++strikes >= MAX_STRIKES) {
            stream.abort(new Error('over its membership budget'))
            break
          }
          // Stop reading for a while: the transport's flow control then holds the sender back for free.
          await new Promise((res) => setTimeout(res, this.limits.membership.pauseMs(from)))
          continue
        }
        this.onBytes(from, r.bytes, 'direct')
      }
    } catch (e) {
      if (!this.stopping) this.log.debug({ peer: from, err: (e as Error).message }, 'inbound direct stream ended')
    } finally {
      this.inbound.delete(stream)
      if (stream.status === 'open') await stream.close({ signal: AbortSignal.timeout(500) }).catch((e: Error) => stream.abort(e))
    }
  }

  private onBytes(from: PeerKey, bytes: Uint8Array, channel: Channel): void {
    const res = decodeMessage(bytes)
    if (!res.ok) {
      this.bad(from, res.reason, res.detail)
      return
    }
    this.metrics.messagesReceived.inc({ type: res.msg.t, channel })
    if (res.msg.t === 'ack') this.senders.get(from)?.answered()
    this.metrics.bytesReceived.inc({ type: res.msg.t, channel }, bytes.byteLength)
    this.deliver(from, res.msg, channel)
  }

  /** Count every bad message; log once per (peer, reason) so a broken peer cannot flood the log. */
  private bad(from: PeerKey, reason: BadReason, detail: string): void {
    this.metrics.badMessages.inc({ reason })
    const key = `${from} ${reason}`
    if (!this.badLogged.has(key)) {
      this.badLogged.add(key)
      this.log.warn({ peer: from, reason, detail }, `dropped a bad message from ${from} (${reason}); further ones from it are only counted`)
    }
  }

  /** Encode for the wire; a message the core produced that fails its own schema is a bug: logged, not sent. */
  private encode(msg: Message, what: string): Uint8Array | null {
    try {
      return encodeMessage(msg)
    } catch (e) {
      this.log.error({ err: (e as Error).message, type: msg.t }, `${what} not sent: cannot encode`)
      return null
    }
  }

  // ---- broadcast ---------------------------------------------------------------------------------

  broadcast(msg: Message): void {
    if (this.stopping) return
    const bytes = this.encode(msg, 'broadcast')
    if (!bytes) return
    this.metrics.messagesSent.inc({ type: msg.t, channel: 'broadcast' })
    this.metrics.bytesSent.inc({ type: msg.t, channel: 'broadcast' }, bytes.byteLength)
    this.node.services.pubsub.publish(MEMBERSHIP_TOPIC, bytes).catch((e: Error) => {
      this.log.debug({ err: e.message }, 'broadcast failed')
    })
  }

  private onPubsub(m: PubsubMessage): void {
    if (m.type !== 'signed') return
    const from = m.from.toString()
    if (m.topic === MEMBERSHIP_TOPIC) {
      // Charged to the signing origin: the same budget as its direct stream.
      if (!this.limits.membership.allow(from, m.data.byteLength)) {
        this.limits.refuse(from, 'membership-rate', `over ${this.limits.o.membershipMsgsPerSec} messages or ${this.limits.o.membershipBytesPerSec} bytes per second`)
        return
      }
      this.onBytes(from, m.data, 'broadcast')
      return
    }
    for (const h of this.topicHandlers.get(m.topic) ?? []) {
      try {
        h(from, m.data)
      } catch (e) {
        this.log.error({ topic: m.topic, err: (e as Error).message }, 'topic handler failed')
      }
    }
  }

  // ---- bootstrap without a peer id ---------------------------------------------------------------

  /** Addresses without /p2p/<id>: dial them until one connection succeeds, then libp2p and the core take over. */
  private bootstrapWithoutPeerId(): void {
    for (const a of this.opts.bootstrap) {
      const ma = multiaddr(a)
      if (ma.getPeerId() != null) continue
      let attempt = 0
      const tryDial = async () => {
        if (this.stopping) return
        attempt++
        try {
          const conn = await this.node.dial(ma, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS * 2) })
          // Tag it like the bootstrap module does, so libp2p redials it after a disconnect.
          await this.node.peerStore.merge(conn.remotePeer, { multiaddrs: [ma], tags: { [BOOTSTRAP_TAG]: { value: 50 } } })
          this.log.info({ addr: a, peer: conn.remotePeer.toString() }, 'connected to bootstrap address')
        } catch (e) {
          if (this.stopping) return
          if (attempt === 1 || attempt % 30 === 0) this.log.warn({ addr: a, attempt, err: (e as Error).message }, 'bootstrap dial failed; retrying')
          if (attempt >= BOOTSTRAP_MAX_ATTEMPTS) {
            this.log.error({ addr: a }, 'giving up on bootstrap address')
            return
          }
          const t = setTimeout(() => {
            this.timers.delete(t)
            void tryDial()
          }, BOOTSTRAP_RETRY_MS)
          this.timers.add(t)
        }
      }
      void tryDial()
    }
  }

  // ---- AgentNet for plugins ----------------------------------------------------------------------

  async handle(protocol: string, handler: RequestHandler): Promise<void> {
    await this.node.handle(protocol, ({ stream, connection }) => void this.serveRequest(protocol, handler, stream, connection.remotePeer.toString()), {
      // libp2p's own per-connection bound; the per-peer and total bounds are the shell's (src/net/limits.ts).
      maxInboundStreams: this.limits.o.taskStreamsPerPeer,
    })
  }

  /**
   * One request per stream, bounded before it costs memory: a stream slot per peer and in total, the request's
   * announced length reserved from the peer's and the total byte budget before its body is read, the whole
   * request within taskRequestReadMs, the response written within taskResponseWriteMs. The reservation is held
   * until the handler answered (the request is in memory until then).
   */
  private async serveRequest(protocol: string, handler: RequestHandler, stream: Stream, from: PeerKey): Promise<void> {
    const lim = this.limits
    const slot = lim.taskStreams.reserve(from, 1)
    if ('refused' in slot) {
      lim.refuse(from, slot.refused === 'peer' ? 'task-streams-peer' : 'task-streams-total', `${slot.held} of ${slot.max} request streams open`)
      stream.abort(new Error('too many request streams'))
      return
    }
    let bytes: { release: () => void } | undefined
    const readDeadline = deadlineAfter(lim.o.taskRequestReadMs)
    try {
      const r = await new FrameReader(stream.source).read(
        MAX_REQUEST_BYTES,
        (length) => {
          const res = lim.taskBytes.reserve(from, length)
          if ('release' in res) {
            bytes = res
            return null
          }
          lim.refuse(from, res.refused === 'peer' ? 'task-bytes-peer' : 'task-bytes-total', `${length} more bytes over ${res.held} of ${res.max} held`)
          return `request of ${length} bytes over the ${res.refused === 'peer' ? 'per-peer' : 'total'} budget`
        },
        readDeadline.promise,
      )
      readDeadline.cancel()
      if (r.kind !== 'frame') {
        if (r.kind === 'bad') this.bad(from, r.reason, r.detail)
        if (r.kind === 'timeout') lim.refuse(from, 'task-read-timeout', `request not complete within ${lim.o.taskRequestReadMs} ms`)
        stream.abort(new Error(r.kind === 'bad' || r.kind === 'refused' ? r.detail : `request ${r.kind}`))
        return
      }
      const res = await handler(r.bytes, from)
      const write = deadlineAfter(lim.o.taskResponseWriteMs)
      const sent = await Promise.race([stream.sink([lpEncode.single(res)]).then(() => 'sent' as const), write.promise])
      write.cancel()
      if (sent === 'timeout') {
        lim.refuse(from, 'task-write-timeout', `response not taken within ${lim.o.taskResponseWriteMs} ms`)
        stream.abort(new Error('response write timed out'))
        return
      }
      await stream.close({ signal: AbortSignal.timeout(lim.o.taskResponseWriteMs) })
    } catch (e) {
      this.log.debug({ protocol, peer: from, err: (e as Error).message }, 'request handler failed')
      stream.abort(e as Error)
    } finally {
      readDeadline.cancel()
      bytes?.release()
      slot.release()
    }
  }

  async request(peer: PeerKey, addrs: string[], protocol: string, bytes: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000)
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout
    const pid = peerIdFromString(peer)
    if (this.node.getConnections(pid).length === 0 && addrs.length > 0) {
      await this.node.peerStore.merge(pid, { multiaddrs: parseAddrs(addrs) })
    }
    const stream = await this.node.dialProtocol(pid, protocol, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
      await lp.write(bytes, { signal })
      const res = await lp.read({ signal })
      await stream.close({ signal }).catch(() => {})
      return res.subarray()
    } catch (e) {
      stream.abort(e as Error)
      throw e
    }
  }

  async publish(topic: string, bytes: Uint8Array): Promise<void> {
    await this.node.services.pubsub.publish(topic, bytes)
  }

  subscribe(topic: string, handler: (fromPeer: PeerKey, bytes: Uint8Array) => void): () => void {
    if (topic === MEMBERSHIP_TOPIC) throw new Error(`topic ${topic} is reserved for membership`)
    let set = this.topicHandlers.get(topic)
    if (!set) {
      set = new Set()
      this.topicHandlers.set(topic, set)
      this.node.services.pubsub.subscribe(topic)
    }
    set.add(handler)
    return () => {
      set.delete(handler)
      if (set.size === 0 && this.topicHandlers.get(topic) === set) {
        this.topicHandlers.delete(topic)
        if (!this.stopping) this.node.services.pubsub.unsubscribe(topic)
      }
    }
  }

  connectedPeers(): PeerKey[] {
    return this.node.getPeers().map((p) => p.toString())
  }

  topicPeers(topic: string): PeerKey[] {
    return this.node.services.pubsub.getSubscribers(topic).map((p) => p.toString())
  }

  /** Close streams and stop libp2p. */
  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    this.monitor.stop()
    this.lanQuery?.stop()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    await Promise.all([...this.senders.values()].map((s) => s.close()))
    for (const s of this.inbound) if (s.status === 'open') s.abort(new Error('agent stopping'))
    await this.node.stop()
  }
}

function parseAddrs(addrs: string[]): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const a of addrs) {
    try {
      // The peer store keeps transport addresses; strip a trailing /p2p/<id>.
      const ma = multiaddr(a)
      const id = ma.getPeerId()
      out.push(id ? ma.decapsulateCode(421) : ma)
    } catch {
      // an unusable address from gossip is skipped, the others may work
    }
  }
  return out
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(t))
}

function describeListenError(e: Error, listen: string): Error {
  const text = `${e.message} ${(e as { code?: string }).code ?? ''} ${String((e as { cause?: unknown }).cause ?? '')}`
  if (/EADDRINUSE/.test(text)) return new NetError(`listen address ${listen} is already in use`)
  if (/EADDRNOTAVAIL/.test(text)) return new NetError(`listen address ${listen} is not an address of this host`)
  if (/EACCES/.test(text)) return new NetError(`no permission to listen on ${listen}`)
  return new NetError(`cannot listen on ${listen}: ${e.message}`)
}

/**
 * Did the dial fail because the peer's host refused the connection (ECONNREFUSED: nothing listens on the port)? libp2p
 * wraps the transport's error (DialError, AggregateError with `errors`, `cause`), so the chain is searched, 4 deep.
 */
export function isRefused(e: unknown, depth = 0): boolean {
  if (e === null || typeof e !== 'object' || depth > 4) return false
  const x = e as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown }
  if (x.code === 'ECONNREFUSED' || (typeof x.message === 'string' && x.message.includes('ECONNREFUSED'))) return true
  if (Array.isArray(x.errors) && x.errors.some((c) => isRefused(c, depth + 1))) return true
  return isRefused(x.cause, depth + 1)
}
