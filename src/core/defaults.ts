import type { CoreConfig } from './types.ts'

/** Protocol defaults, tuned for a LAN of up to a few dozen agents (every key can be set in the config file: README, "Config file"). */
export const protocolDefaults: Omit<CoreConfig, 'id' | 'peer' | 'addrs' | 'stored' | 'tags' | 'wallClockAtStart' | 'boot' | 'newKey'> = {
  quorum: 'majority',
  expect: 1,
  // Three mDNS rounds are about 100 ms on a LAN (answers are multicast at once); 3 s leaves room for agents started
  // by hand a second or two apart and for bootstrap dials that retry once a second.
  discoveryWindowMs: 3_000,
  // Five voters survive two failures (Consul's and etcd's recommendation); lease traffic at the master is O(voters).
  voters: 5,
  // Long enough that a restart (a few seconds) or a short partition does not reshuffle the voters; short enough that
  // the cluster regains its fault tolerance well within a minute.
  voterDeadAfterMs: 30_000,
  probeIntervalMs: 500,
  probeTimeoutMs: 400,
  indirectTimeoutMs: 400,
  indirectChecks: 3,
  suspicionMinMs: 500,
  suspicionMaxMult: 6,
  maxHealthScore: 8,
  retransmitMult: 4,
  maxPiggyback: 8,
  // The backstop for what gossip missed (a digest each round, the full state only on a difference: membership.ts
  // sendDigest). 30 s (memberlist's LAN push-pull) would halve the rounds, but with quorum=none a node holding a
  // higher term after a 2|2 heal recognises no master until the next exchange tells the lowest id that term
  // (split-2-2-quorum-none took 31 s against its 30 s bound).
  syncIntervalMs: 15_000,
  deadProbeIntervalMs: 2_000,
  reapAfterMs: 24 * 3600_000,
  leaseDurationMs: 1_200,
  leaseRenewMs: 400,
  clockDrift: 0.1,
  stabilityWindowMs: 2_000,
}
