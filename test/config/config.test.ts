import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { protocolDefaults } from '../../src/core/defaults.ts'
import { ConfigError, loadConfig } from '../../src/config/load.ts'

const dir = mkdtempSync(join(tmpdir(), 'conclave-config-'))
function file(content: unknown): string {
  const p = join(dir, `c${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content))
  return p
}
function err(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    return (e as Error).message
  }
  throw new Error('expected a ConfigError')
}

describe('config', () => {
  it('fills defaults', () => {
    const c = loadConfig({ id: 'node-1' })
    expect(c).toMatchObject({ id: 'node-1', listen: '/ip4/0.0.0.0/tcp/7946', api: '127.0.0.1:7947', mdns: true, bootstrap: [], dataDir: join('data', 'node-1') })
    expect(c.probeIntervalMs).toBe(protocolDefaults.probeIntervalMs)
  })

  it('flags override the file, the file overrides defaults', () => {
    const f = file({ id: 'from-file', probeIntervalMs: 250, probeTimeoutMs: 200, indirectTimeoutMs: 200, quorum: 'none', tasks: { anything: 1 }, on: [1] })
    const c = loadConfig({ id: 'from-flag' }, f)
    expect(c.id).toBe('from-flag')
    expect(c.probeIntervalMs).toBe(250)
    expect(c.quorum).toBe('none')
    expect(c.tasks).toEqual({ anything: 1 })
    expect(c.on).toEqual([1])
  })

  it('names the bad field of a config file', () => {
    expect(err(() => loadConfig({}, file({ probeIntervalMs: -5 })))).toBe('config error: probeIntervalMs: expected a positive integer')
    expect(err(() => loadConfig({}, file({ probeIntervalMs: 'fast' })))).toBe('config error: probeIntervalMs: expected a positive integer')
    expect(err(() => loadConfig({}, file({ quorum: 'most' })))).toBe('config error: quorum: expected "majority" or "none"')
    expect(err(() => loadConfig({}, file({ bootstrap: ['/ip4/1.2.3.4/tcp/x'] })))).toMatch(/^config error: bootstrap\.0: malformed multiaddr/)
    expect(err(() => loadConfig({}, file({ probeIntervalMS: 5 })))).toBe('config error: unknown key "probeIntervalMS"')
  })

  it('names the flag of a bad flag value', () => {
    expect(err(() => loadConfig({ expect: Number.NaN }))).toBe('config error: --expect: expected a positive integer')
    expect(err(() => loadConfig({ listen: '/ip4/127.0.0.1/tcp/notaport' }))).toMatch(/^config error: --listen: malformed multiaddr/)
    expect(err(() => loadConfig({ listen: '/ip4/127.0.0.1/udp/5' }))).toMatch(/^config error: --listen: .* is not a listen address/)
    expect(err(() => loadConfig({ api: 'localhost' }))).toMatch(/^config error: --api: expected host:port/)
    expect(err(() => loadConfig({ bootstrap: ['/ip4/127.0.0.1/tcp/1', 'nonsense'] }))).toMatch(/^config error: --bootstrap\[1\]: malformed multiaddr/)
  })

  it('reports unreadable and non-JSON files in one line', () => {
    expect(err(() => loadConfig({}, join(dir, 'missing.json')))).toMatch(/^config error: cannot read config file .*missing\.json \(ENOENT\)$/)
    expect(err(() => loadConfig({}, file('{not json')))).toMatch(/^config error: .* is not valid JSON/)
    expect(err(() => loadConfig({}, file('[1]')))).toMatch(/must contain a JSON object$/)
  })
})
