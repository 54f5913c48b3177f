import type { CoreConfig } from './types.ts'

/** Protocol defaults, tuned for a LAN of up to a few dozen agents (every key can be set in the config file: README, "Config file"). */
export const protocolDefaults: Omit<CoreConfig, 'id' | 'peer' | 'addrs' | 'startTerm'> = {
  quorum: 'majority',
  expect: 1,
  probeIntervalMs: 500,
  probeTimeoutMs: 400,
  indirectTimeoutMs: 400,
  indirectChecks: 3,
  suspicionMinMs: 500,
  suspicionMaxMult: 6,
  maxHealthScore: 8,
  retransmitMult: 4,
  maxPiggyback: 8,
  syncIntervalMs: 15_000,
  deadProbeIntervalMs: 2_000,
  reapAfterMs: 24 * 3600_000,
  leaseDurationMs: 1_200,
  leaseRenewMs: 400,
  clockDrift: 0.1,
  stabilityWindowMs: 2_000,
}
