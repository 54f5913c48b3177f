// Cross-field checks of the protocol tunables: each valid alone, wrong together. Messages name both fields.
import { describe, expect, it } from 'vitest'
import { protocolDefaults } from '../../src/core/defaults.ts'
import { ConfigError, loadConfig } from '../../src/config/load.ts'
import { fileSchema } from '../../src/config/schema.ts'

function err(over: Record<string, unknown>): string {
  try {
    loadConfig({ id: 'node-1', ...over })
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    return (e as Error).message
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(over)}`)
}

describe('protocol tunables, cross-field checks', () => {
  it('accepts the defaults and the edges of each rule', () => {
    expect(loadConfig({ id: 'node-1' }).clockDrift).toBe(protocolDefaults.clockDrift)
    expect(() => loadConfig({ id: 'node-1', clockDrift: 0.25, leaseRenewMs: 599, leaseDurationMs: 1200 } as never)).not.toThrow()
    expect(() => loadConfig({ id: 'node-1', probeTimeoutMs: 500, probeIntervalMs: 500, indirectTimeoutMs: 500, suspicionMinMs: 500 } as never)).not.toThrow()
  })

  it('refuses clockDrift above 0.25, explaining the lease share (0.5 leaves the holder nothing)', () => {
    expect(err({ clockDrift: 0.5 })).toBe(
      'config error: clockDrift: 0.5 is too large: a lease holder counts leaseDurationMs × (1 − 2 × clockDrift) of each grant (0 ms of leaseDurationMs 1200); at most 0.25',
    )
    expect(err({ clockDrift: 0.3 })).toMatch(/^config error: clockDrift: 0\.3 is too large/)
  })

  it('refuses a renewal period that does not fit in the holder’s share of the lease', () => {
    expect(err({ leaseRenewMs: 960 })).toBe(
      'config error: leaseRenewMs: 960 must be below leaseDurationMs × (1 − 2 × clockDrift) = 960 (leaseDurationMs 1200, clockDrift 0.1): the master must renew before its share of the lease runs out',
    )
    expect(err({ leaseDurationMs: 500 })).toMatch(/^config error: leaseRenewMs: 400 must be below .* = 400 \(leaseDurationMs 500, clockDrift 0\.1\)/)
  })

  it('refuses probe, suspicion, dead-probe, sync and reap settings that contradict the probe interval', () => {
    expect(err({ probeTimeoutMs: 600 })).toMatch(/^config error: probeTimeoutMs: 600 must be at most probeIntervalMs \(500\)/)
    expect(err({ indirectTimeoutMs: 300 })).toMatch(/^config error: indirectTimeoutMs: 300 must be at least probeTimeoutMs \(400\)/)
    expect(err({ suspicionMinMs: 400 })).toMatch(/^config error: suspicionMinMs: 400 must be at least probeIntervalMs \(500\)/)
    expect(err({ deadProbeIntervalMs: 100 })).toMatch(/^config error: deadProbeIntervalMs: 100 must be at least probeIntervalMs \(500\)/)
    expect(err({ syncIntervalMs: 100 })).toMatch(/^config error: syncIntervalMs: 100 must be at least probeIntervalMs \(500\)/)
    expect(err({ reapAfterMs: 5000 })).toMatch(/^config error: reapAfterMs: 5000 must be at least twice the longer of suspicionMinMs × suspicionMaxMult \(3000\) and deadProbeIntervalMs \(2000\)/)
  })

  it('a config file with only some tunables is still accepted by the file schema; the check runs on the merge', () => {
    expect(fileSchema.safeParse({ leaseRenewMs: 1000 }).success).toBe(true)
    expect(err({ leaseRenewMs: 1000 })).toMatch(/leaseRenewMs: 1000 must be below/)
  })
})
