// The periodic LAN query for agents, sent by one node per connected group instead of by every node.
//
// @libp2p/mdns answers every query (each agent multicasts its addresses) and sends one of its own every interval.
// With every agent querying every 10 s, a cluster of n agents multicasts n queries and n(n-1) answers per 10 s:
// 350 B/s per agent at 10 agents in network namespaces, a quarter of its idle bytes, and O(n) per agent
// (docs/bench-runtime.md). The libp2p service now queries once, as it starts (which finds a running cluster, and
// the cluster finds a newcomer when it dials in, or by its answer to the next query); after that, only the node with discovery duty
// (ClusterCore.discoveryDuty: the lowest live id in its view) queries every LAN_QUERY_MS, from a socket of its own.
// The answers are multicast, so every agent's libp2p service hears them and dials what it did not know: agents
// started into a partition, and clusters founded on both sides of one, still meet within one interval of the heal.
import { createSocket, type Socket } from 'node:dgram'
import { encode } from 'dns-packet'

/** How often the node with discovery duty queries: the 10 s @libp2p/mdns used per node (cold-start-split: met in 20 s). */
export const LAN_QUERY_MS = 10_000
/** mDNS's multicast group and port (RFC 6762). */
const MDNS_GROUP = '224.0.0.251'
const MDNS_PORT = 5353

export class LanQuery {
  private socket: Socket | null = null
  /** null until the first call: the libp2p service has just sent its start-up query, the first of this one is due later. */
  private lastAt: number | null = null
  private readonly query: Buffer

  constructor(
    serviceTag: string,
    private readonly onError: (err: Error) => void,
  ) {
    this.query = encode({ type: 'query', id: 0, questions: [{ name: serviceTag, type: 'PTR', class: 'IN' }] })
  }

  /** Send the query if it is due and `duty()` says this node queries for its group (asked only when due). */
  maybeQuery(duty: () => boolean, now: number): void {
    if (this.lastAt === null) this.lastAt = now
    if (now - this.lastAt < LAN_QUERY_MS || !duty()) return
    this.lastAt = now
    // A socket that only sends: bound by its first send to a port of its own, outside the multicast group, so it
    // neither answers nor reads the LAN's mDNS traffic (the libp2p service does both). Errors come back here, never
    // as an exception: the next interval tries again, and discovery by bootstrap and start-up queries goes on.
    if (!this.socket) {
      this.socket = createSocket('udp4')
      this.socket.on('error', this.onError)
    }
    this.socket.send(this.query, MDNS_PORT, MDNS_GROUP, (err) => {
      if (err) this.onError(err)
    })
  }

  stop(): void {
    this.socket?.close()
    this.socket = null
  }
}
