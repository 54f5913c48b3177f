// Security counters and gauges of one agent, registered on the agent's Prometheus registry.
import { Counter, Gauge, type Registry } from 'prom-client'

export interface SecurityMetrics {
  /** Connections refused by the cluster key protector, by reason (wrong-key, no-handshake). */
  keyRefused: Counter<'reason'>
  /** Connections accepted under a key of the key file, by key position (primary: our dialing key; secondary: an older/newer key during a rotation). */
  keyAccepted: Counter<'key'>
  /** Inbound connections refused because the peer already had the per-peer maximum. */
  peerConnectionLimit: Counter
  /** Protocol messages the core's acceptance rules dropped (trust.ts), by rule. */
  untrusted: Counter<'rule'>
  /** HTTP API mutations refused for want of a token or the CLI header, by reason. */
  apiRefused: Counter<'reason'>
}

export function createSecurityMetrics(registry: Registry, keyed: () => boolean, keyCount: () => number): SecurityMetrics {
  const registers = [registry]
  new Gauge({
    name: 'conclave_cluster_keyed',
    help: '1 when every connection is protected by the cluster key (--cluster-key-file), 0 for an open cluster',
    registers,
    collect() {
      this.set(keyed() ? 1 : 0)
    },
  })
  new Gauge({
    name: 'conclave_cluster_keys',
    help: 'Keys in the cluster key file (2 while a rotation is under way)',
    registers,
    collect() {
      this.set(keyCount())
    },
  })
  const m: SecurityMetrics = {
    keyRefused: new Counter({ name: 'conclave_cluster_key_refused_total', help: 'Connections refused by the cluster key check, by reason', labelNames: ['reason'], registers }),
    keyAccepted: new Counter({ name: 'conclave_cluster_key_accepted_total', help: 'Connections accepted, by the key the remote proved (primary or secondary)', labelNames: ['key'], registers }),
    peerConnectionLimit: new Counter({ name: 'conclave_peer_connection_limit_total', help: 'Inbound connections refused: the peer already held the per-peer maximum', registers }),
    untrusted: new Counter({ name: 'conclave_untrusted_messages_dropped_total', help: 'Protocol messages or updates dropped by a trust rule (see docs/security.md), by rule', labelNames: ['rule'], registers }),
    apiRefused: new Counter({ name: 'conclave_api_refused_total', help: 'HTTP API mutations refused, by reason', labelNames: ['reason'], registers }),
  }
  for (const reason of ['wrong-key', 'no-handshake']) m.keyRefused.inc({ reason }, 0)
  for (const reason of ['no-credentials', 'bad-token']) m.apiRefused.inc({ reason }, 0)
  return m
}
