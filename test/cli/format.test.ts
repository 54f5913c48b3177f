// Human output of the CLI: widths, marks, tags, the API address resolution.
import { describe, expect, it } from 'vitest'
import { resolveApi } from '../../src/cli/client.ts'
import { formatInfo, type InfoView } from '../../src/cli/commands/info.ts'
import { membersTable, type MemberRow } from '../../src/cli/commands/members.ts'
import { formatTask } from '../../src/cli/commands/tasks.ts'
import { duration, shortPeer, textWidth, truncate } from '../../src/cli/table.ts'

const now = Date.parse('2026-12-01T10:00:00Z')
const peer = (i: number) => `12D3KooWAfgJGU3daZkwVG8mqxgbZ2i348iypPSDQaym9okv9tS${i}`
const member = (i: number, over: Partial<MemberRow> = {}): MemberRow => ({
  id: `node-${i}`,
  peerId: peer(i),
  state: 'alive',
  incarnation: i,
  addrs: [`/ip4/10.0.0.${i}/tcp/7946/p2p/${peer(i)}`],
  since: new Date(now - i * 61_000).toISOString(),
  ...over,
})
const five = [1, 2, 3, 4, 5].map((i) => member(i))

describe('members table', () => {
  it('fits 80 columns for 5 members with short ids, marks this node and the master, one short peer id per row', () => {
    const tagged = five.map((m, i) => ({ ...m, tags: { role: i < 2 ? 'db' : 'web', zone: `eu-west-${i}` } }))
    const out = membersTable(tagged, { self: 'node-3', master: 'node-1', voters: ['node-1', 'node-2', 'node-3'], now, width: 80 })
    expect(textWidth(out)).toBeLessThanOrEqual(80)
    const lines = out.split('\n')
    expect(lines[0]).toMatch(/^ID +STATE +ROLE +INC +SINCE +TAGS +PEER$/)
    expect(lines[1]).toBe('node-1   alive  master  1    61s ago  role=db,zone=eu-west-0   …kv9tS1')
    expect(lines[3]).toMatch(/^node-3\* +alive +voter /)
    expect(lines[4]).toMatch(/^node-4 +alive +member /)
    expect(lines.at(-1)).toBe('* this node')
    for (const m of five) expect(out.split(m.peerId).length).toBe(1)
    for (const l of lines.slice(1, 6)) expect(l).toMatch(/ …\w{6}$/)
  })

  it('cuts long tags to fit the width, and shows everything with wide', () => {
    const long = five.map((m) => ({ ...m, tags: { role: 'web', owner: 'team-payments-platform', zone: 'eu-west-1a' } }))
    const out = membersTable(long, { self: 'node-1', master: 'node-1', now, width: 80 })
    expect(textWidth(out)).toBeLessThanOrEqual(80)
    expect(out).toMatch(/role=web,owner=[^\s]*…/)
    const wide = membersTable(long, { self: 'node-1', master: 'node-1', now, wide: true })
    expect(wide).toContain('role=web,owner=team-payments-platform,zone=eu-west-1a')
    expect(wide).toContain(peer(1))
    expect(wide.split('\n')[0]).toMatch(/PEER +ADDRS$/)
  })

  it('takes the role from the member when the agent reports it, and this node’s tags from info when members carry none', () => {
    const rows = [member(1, { voter: true }), member(2, { voter: false }), member(10, { voter: true })]
    const out = membersTable(rows, { self: 'node-2', master: null, voters: [], selfTags: { role: 'web' }, now })
    const lines = out.split('\n')
    // Natural order: node-2 before node-10.
    expect(lines.slice(1, 4).map((l) => l.split(/\s+/)[0])).toEqual(['node-1', 'node-2*', 'node-10'])
    expect(lines[1]).toMatch(/^node-1 +alive +voter .* - +…/)
    expect(lines[2]).toMatch(/^node-2\* +alive +member .* role=web +…/)
  })
})

describe('helpers', () => {
  it('truncates with an ellipsis, shortens peer ids, prints durations', () => {
    expect(truncate('abcdef', 4)).toBe('abc…')
    expect(truncate('abc', 4)).toBe('abc')
    expect(shortPeer(peer(7))).toBe('…kv9tS7')
    expect(duration(3_723_000)).toBe('1h 2m')
    expect(duration(90_061_000)).toBe('1d 1h')
    expect(duration(59_000)).toBe('59s')
  })

  it('finds the API address in --api, else CONCLAVE_API, else the default; bad values name their source', () => {
    expect(resolveApi(undefined, {})).toBe('127.0.0.1:7947')
    expect(resolveApi(undefined, { CONCLAVE_API: '10.0.0.5:9000' })).toBe('10.0.0.5:9000')
    expect(resolveApi('[::1]:7000', { CONCLAVE_API: '10.0.0.5:9000' })).toBe('[::1]:7000')
    expect(() => resolveApi(undefined, { CONCLAVE_API: 'http://x' })).toThrow('CONCLAVE_API: expected host:port, got "http://x"')
    expect(() => resolveApi('host:99999', {})).toThrow('--api: expected host:port, got "host:99999"')
  })
})

describe('info and task views', () => {
  it('info lists the facts and only non-zero counters', () => {
    const info: InfoView = {
      version: '0.1.0', id: 'node-2', peerId: peer(2), clusterId: null, role: 'voter', voters: ['node-1', 'node-2'], term: 3, maxTerm: 4, incarnation: 1,
      healthScore: 0, tags: { role: 'web' }, startedAt: '2026-12-01T09:00:00.000Z', uptimeMs: 3_600_000, configFile: null, dataDir: '/var/lib/conclave',
      listen: '/ip4/0.0.0.0/tcp/7946', addrs: [], api: '127.0.0.1:7947', quorumMode: 'majority', logLevel: 'info', pid: 42, nodeVersion: 'v24.21.0',
      counters: { probes: 10, suspicions: 0 },
    }
    const out = formatInfo(info)
    expect(out).toMatch(/^cluster id +-$/m)
    expect(out).toMatch(/^uptime +1h 0m /m)
    expect(out).toMatch(/^config file +- \(flags and defaults\)$/m)
    expect(out).toMatch(/^ {2}probes +10$/m)
    expect(out).not.toMatch(/suspicions/)
  })

  it('a failed task shows its error, exit code and stderr', () => {
    const out = formatTask(
      { id: 't1', type: 'x', state: 'failed', attempt: 1, node: 'node-1', term: 2, origin: 'submit', updatedAt: '2026-12-01T09:59:00Z', outcome: { error: 'handler-failed', detail: 'exit 3', exitCode: 3, stderr: 'a\nb\n' } },
      now,
    )
    expect(out).toMatch(/^error +handler-failed: exit 3$/m)
    expect(out).toMatch(/^exit +3$/m)
    expect(out).toContain('stderr    a\n          b')
    expect(out).toMatch(/^updated +2026-12-01T09:59:00Z \(60s ago\)$/m)
  })
})
