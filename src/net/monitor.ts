// Reaps connections that went silent, in place of libp2p's connection monitor.
//
// libp2p's monitor pings every connection from both ends every interval, each ping a new yamux stream with its
// multistream-select negotiation and close: at 10 idle agents that was about 1.5 KB/s per agent on the wire, a
// quarter of all idle traffic (docs/bench-runtime.md). Its job here is one thing: close a connection that stalled
// (a partition, a stopped host: the kernel keeps a dead TCP connection open for many minutes) so that the agents
// redial when the network heals. A connection that is carrying the core's probes and acks is not stalled, so this
// monitor pings only a connection from which nothing was heard (direct-protocol frames, ping answers) for a whole
// interval. In an idle cluster of a few agents every pair exchanges probes well within the interval, so it sends
// nothing; a stalled connection is found and closed after the same 10-20 s (plus the ping timeout) as before. In a
// larger cluster a pair hears from each other less often (silenceMs), and the silence that earns a ping grows with it.
import type { Connection } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { Node } from './node.ts'

export const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_LENGTH = 32
/** A connection silent this long is pinged (libp2p's monitor pinged every connection this often). */
export const MONITOR_INTERVAL_MS = 10_000
/** A ping not answered within this long closes the connection (libp2p's adaptive timeout: 2-10 s). */
export const MONITOR_TIMEOUT_MS = 5_000
/**
 * The core probes every member once per round (probes.ts: a shuffled round of all members, one probe per interval),
 * so the two ends of a pair probe each other about once per connections x 500 ms / 2. At 50 agents that is 12 s, more
 * than MONITOR_INTERVAL_MS: every agent pinged most of its 49 connections every 10-20 s, from both ends, each ping a
 * new stream with its negotiation (36 idle agents: 2.0 % of a core each, 1.1 % with this). A connection is pinged
 * once it has been silent for two such gaps (49 x 500 ms at 50 agents: 24.5 s), or MONITOR_INTERVAL_MS when that is
 * longer; a stall is found by the core's probes and the shell's redials (shell.ts STALL_MS) long before, and this is
 * the backstop that closes the connection left behind.
 */
export function silenceMs(connections: number, probeIntervalMs: number, intervalMs = MONITOR_INTERVAL_MS): number {
  return Math.max(intervalMs, connections * probeIntervalMs)
}
/** A duplicate connection younger than this is left alone (streams may still be opening on it). */
const DUPLICATE_MIN_AGE_MS = 5_000
/** Streams whose loss on a closed duplicate connection costs nothing: each reopens on the connection kept. */
const MOVABLE = new Set(['/conclave/swim/1.0.0', PING_PROTOCOL, '/ipfs/id/1.0.0', '/ipfs/id/push/1.0.0'])
export const GOSSIPSUB_PROTOCOL = /^\/meshsub\//

export class ConnectionMonitor {
  private readonly lastHeard = new Map<string, number>()
  private timer?: NodeJS.Timeout
  private stopped = false

  constructor(
    private readonly node: Node,
    private readonly log: Logger,
    private readonly intervalMs = MONITOR_INTERVAL_MS,
    private readonly timeoutMs = MONITOR_TIMEOUT_MS,
    private readonly now: () => number = () => performance.now(),
    private readonly probeIntervalMs = 500,
  ) {}

  /** Something arrived on this connection: it is alive. */
  heard(connId: string): void {
    this.lastHeard.set(connId, this.now())
  }

  /** How long nothing was heard on this connection (since it opened, when nothing was heard at all). */
  silentMs(conn: Connection): number {
    const last = this.lastHeard.get(conn.id)
    return last === undefined ? Date.now() - conn.timeline.open : this.now() - last
  }

  start(): void {
    this.timer = setInterval(() => this.check(), this.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    this.stopped = true
    clearInterval(this.timer)
  }

  private check(): void {
    const now = this.now()
    const open = new Set<string>()
    const conns = this.node.getConnections()
    const silence = silenceMs(conns.length, this.probeIntervalMs, this.intervalMs)
    for (const conn of conns) {
      open.add(conn.id)
      if (conn.status !== 'open') continue
      const last = this.lastHeard.get(conn.id)
      if (last === undefined) {
        // First sight: give it one interval of grace, like libp2p's monitor (it pinged first after one interval).
        this.lastHeard.set(conn.id, now)
        continue
      }
      if (now - last < silence) continue
      void this.ping(conn)
    }
    for (const id of this.lastHeard.keys()) if (!open.has(id)) this.lastHeard.delete(id)
    this.pruneDuplicates()
  }

  /**
   * Two agents that learn of each other at once both dial, and the pair keeps two connections (measured: 63
   * connections for 45 pairs at 10 agents), each its own socket, noise state and ~0.5 MB per end, and the idle one
   * is pinged. A duplicate that carries only streams which reopen by themselves (the direct protocol, ping,
   * identify) is closed when another connection to the peer carries gossipsub: gossipsub keeps its stream to a
   * peer on the connection it first used and does not move it when that connection closes, so a connection
   * with a gossipsub stream is never the one closed. Both ends see the same streams, so they agree on which one
   * to keep; one closing it is enough.
   */
  private pruneDuplicates(): void {
    const byPeer = new Map<string, Connection[]>()
    for (const conn of this.node.getConnections()) {
      if (conn.status !== 'open') continue
      const key = conn.remotePeer.toString()
      const list = byPeer.get(key)
      if (list) list.push(conn)
      else byPeer.set(key, [conn])
    }
    const now = Date.now()
    for (const conns of byPeer.values()) {
      if (conns.length < 2) continue
      if (!conns.some((c) => c.streams.some((s) => s.protocol !== undefined && GOSSIPSUB_PROTOCOL.test(s.protocol)))) continue
      for (const c of conns) {
        if (now - c.timeline.open < DUPLICATE_MIN_AGE_MS) continue
        if (!c.streams.every((s) => s.protocol !== undefined && MOVABLE.has(s.protocol))) continue
        this.log.debug({ peer: c.remotePeer.toString(), conn: c.id }, 'closing a duplicate connection')
        this.lastHeard.delete(c.id)
        c.close({ signal: AbortSignal.timeout(this.timeoutMs) }).catch((e: Error) => c.abort(e))
      }
    }
  }

  private async ping(conn: Connection): Promise<void> {
    const signal = AbortSignal.timeout(this.timeoutMs)
    try {
      const stream = await conn.newStream(PING_PROTOCOL, { signal, runOnLimitedConnection: true })
      try {
        const data = crypto.getRandomValues(new Uint8Array(PING_LENGTH))
        const answered = (async () => {
          let got = 0
          for await (const chunk of stream.source) {
            got += chunk.byteLength
            if (got >= PING_LENGTH) return
          }
          throw new Error('ping stream ended before the answer')
        })()
        const aborted = new Promise<never>((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true })
        })
        await Promise.race([Promise.all([stream.sink([data]), answered]), aborted])
        this.heard(conn.id)
        await stream.close({ signal }).catch((e: Error) => stream.abort(e))
      } catch (e) {
        stream.abort(e as Error)
        throw e
      }
    } catch (e) {
      const err = e as Error
      // A remote without the ping handler still answered the negotiation: it is alive (as in libp2p's monitor).
      if (err.name === 'UnsupportedProtocolError') {
        this.heard(conn.id)
        return
      }
      if (this.stopped || conn.status !== 'open') return
      this.log.debug({ peer: conn.remotePeer.toString(), err: err.message }, 'connection silent and unanswered ping: closing it')
      conn.abort(err)
    }
  }
}
