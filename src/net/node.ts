// Builds the libp2p node: tcp + noise + yamux, identify, ping, gossipsub, optional mDNS and bootstrap.
import { gossipsub, type GossipSub } from '@chainsafe/libp2p-gossipsub'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bootstrap } from '@libp2p/bootstrap'
import { identify, type Identify } from '@libp2p/identify'
import type { ComponentLogger, ConnectionProtector, Logger, PeerDiscovery, PeerId, PrivateKey } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { ping, type PingService } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Registry } from 'prom-client'
import { wireStats } from './wire-stats.ts'
import { installLazyWindowUpdates } from './yamux-window.ts'

export type Services = { identify: Identify; ping: PingService; pubsub: GossipSub }
export type Node = Libp2p<Services>

export interface NodeOptions {
  privateKey: PrivateKey
  listen: string
  /** Bootstrap addresses that carry a /p2p/<peer-id> component (the bootstrap module needs it). */
  bootstrapWithPeerId: string[]
  mdns: boolean
  /** The cluster key protector (src/net/cluster-key.ts); absent: an unkeyed cluster. */
  connectionProtector?: () => ConnectionProtector
  /** Called when an inbound connection is refused because the peer already has MAX_CONNECTIONS_PER_PEER. */
  onPeerLimit?: (peer: string) => void
  /** Count bytes per libp2p protocol into this registry (src/net/wire-stats.ts; for the benchmark). */
  wireStats?: Registry
}

/**
 * Connections one peer may hold to this node. Two agents need one (the lower peer id dials; a simultaneous dial
 * can make two for a moment); a few more cover reconnects racing the close of the old one. A peer that opens
 * more is refused after the handshake (libp2p 2.x has no per-peer cap of its own), so it cannot pin our sockets
 * and memory (about 0.55 MB per connection end) beyond this.
 */
export const MAX_CONNECTIONS_PER_PEER = 4
/**
 * Streams per connection (yamux, all protocols together). Our own traffic needs one direct stream each way
 * plus gossipsub's, identify's and ping's, and one per in-flight task request (at most 128 by the task
 * protocol's own limit): 256 bounds what one connection can open, the default 1024 would allow four times as much.
 */
export const MAX_STREAMS_PER_CONNECTION = 256
/** mDNS service name: only conclave agents answer, not every libp2p node on the LAN. */
export const MDNS_SERVICE_TAG = '_conclave._udp.local'
/** @libp2p/mdns's own query interval after its first query (one hour: see buildNode). */
export const MDNS_BACKSTOP_QUERY_MS = 3_600_000
export const BOOTSTRAP_TAG = 'keep-alive-bootstrap'

/** Gossipsub's fast message id: origin peer id and sequence number, the fields of its StrictSign message id. */
export function fastMsgId(m: { from?: Uint8Array; seqno?: Uint8Array }): string {
  if (!m.from || !m.seqno) return ''
  return `${Buffer.from(m.from.buffer, m.from.byteOffset, m.from.byteLength).toString('base64')}/${Buffer.from(m.seqno.buffer, m.seqno.byteOffset, m.seqno.byteLength).toString('base64')}`
}

const quiet: Logger = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false, newScope: () => quiet })
/**
 * libp2p's default logger builds two or three `debug` instances for every component, connection and stream it
 * names, and each one asks isatty(): 0.7 % of the wall time of an agent in a 50-agent cluster that was forming on
 * 2 cores (`--cpu-prof`, docs/bench-runtime.md). With DEBUG unset every one of them is disabled anyway; this logger
 * is the same, for nothing. With DEBUG set (`DEBUG=libp2p:*`), libp2p's own logger is used.
 */
export const quietLogger: ComponentLogger = { forComponent: () => quiet }

export async function buildNode(o: NodeOptions): Promise<Node> {
  // One yamux window update per half window instead of one per data frame received (src/net/yamux-window.ts).
  installLazyWindowUpdates()
  const peerDiscovery: ((components: any) => PeerDiscovery)[] = []
  // The service queries as it starts and then once an hour, a backstop: the periodic query is sent by one node per
  // group (src/net/lan-query.ts), where every agent querying every 10 s cost 350 B/s per agent at 10 agents.
  if (o.mdns) peerDiscovery.push(mdns({ serviceTag: MDNS_SERVICE_TAG, interval: MDNS_BACKSTOP_QUERY_MS }))
  if (o.bootstrapWithPeerId.length > 0) {
    peerDiscovery.push(bootstrap({ list: o.bootstrapWithPeerId, timeout: 0, tagName: BOOTSTRAP_TAG }))
  }
  let node: Node | undefined
  const tooMany = (peer: PeerId): boolean => {
    if (!node || node.getConnections(peer).length < MAX_CONNECTIONS_PER_PEER) return false
    o.onPeerLimit?.(peer.toString())
    return true
  }
  node = await createLibp2p({
    start: false,
    ...(process.env.DEBUG ? {} : { logger: quietLogger }),
    ...(o.wireStats ? { metrics: wireStats(o.wireStats) } : {}),
    ...(o.connectionProtector ? { connectionProtector: o.connectionProtector } : {}),
    connectionGater: { denyInboundEncryptedConnection: tooMany },
    privateKey: o.privateKey,
    addresses: { listen: [o.listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // yamux's keep-alive pings every connection every 30 s but does nothing when no answer comes; the connection
    // monitor below already pings each connection and closes it when the ping fails, so those were pure traffic.
    streamMuxers: [yamux({ enableKeepAlive: false, maxInboundStreams: MAX_STREAMS_PER_CONNECTION, maxOutboundStreams: MAX_STREAMS_PER_CONNECTION })],
    peerDiscovery,
    connectionManager: {
      // The default (5 new connections per second per IP) refuses peers when a cluster on one host starts at once.
      inboundConnectionThreshold: 100,
      reconnectRetryInterval: 500,
      // Left undefined, libp2p passes NaN to p-retry (TimeoutNaNWarning).
      reconnectBackoffFactor: 2,
    },
    // The core detects failures; reaping stalled connections is src/net/monitor.ts's job, which pings only a
    // connection that has been silent (libp2p's monitor pinged every connection from both ends every 10 s, a new
    // stream each time: a quarter of the idle wire bytes at 10 agents).
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        floodPublish: true,
        heartbeatInterval: 500,
        // floodPublish already sends each message to every subscriber the publisher is connected to, so a small
        // mesh suffices for the rest, and lazy IHAVE gossip is pure overhead here (the core repairs with its own
        // state exchange). Measured with 10 idle agents: 15.1 -> 6.9 KB/s written per agent.
        D: 3,
        Dlo: 2,
        Dhi: 4,
        Dout: 1,
        Dscore: 2,
        Dlazy: 0,
        gossipFactor: 0,
        // Every message arrives once from its publisher (floodPublish) and again from relays, and without a fast id
        // gossipsub checks each copy's Ed25519 signature before it looks the message up in its seen cache: a
        // quarter of an idle agent's CPU at 10 agents was these checks, two thirds of them on duplicates. The
        // fast id is the message id itself (origin and sequence number: the StrictSign id); only a message that
        // passed validation enters the fast-id cache, so a forged copy can never shadow a real one.
        fastMsgIdFn: fastMsgId,
      }) as (components: any) => GossipSub,
    },
  })
  return node
}
