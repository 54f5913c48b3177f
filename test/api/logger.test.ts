// Log output: the same records as readable lines or JSON lines, the auto choice, and the live record bus.
import { describe, expect, it } from 'vitest'
import { createLogger, formatRecord, logBusOf, logEvent, type LogRecord } from '../../src/agent/logger.ts'
import type { CoreEvent, Member } from '../../src/core/types.ts'

const member = (id: string, state: Member['state']): Member => ({ id, peer: `12D3Koo${id}`, addrs: ['/ip4/10.0.0.3/tcp/7946'], incarnation: 2, state, since: 0, aliveSince: 0 })
const events: CoreEvent[] = [
  { type: 'member-joined', member: member('node-3', 'alive') },
  { type: 'member-state', member: member('node-3', 'dead'), previous: 'alive' },
  { type: 'master-changed', master: { id: 'node-2', term: 4 }, previous: { id: 'node-1', term: 3 } },
  { type: 'master-changed', master: null, previous: { id: 'node-2', term: 4 } },
  { type: 'stepped-down', term: 4, reason: 'lost the majority of leases' },
  { type: 'probe', target: 'node-3', ok: false, indirect: true },
]

function capture(format: 'pretty' | 'json' | 'auto', level = 'info', isTTY = false) {
  const lines: string[] = []
  const log = createLogger(level, 'node-1', format, { write: (s) => void lines.push(...s.split('\n').filter(Boolean)), isTTY })
  return { log, lines }
}

describe('log formats', () => {
  it('pretty and json carry the same events, one line each, in words', () => {
    const pretty = capture('pretty')
    const json = capture('json')
    for (const e of events) {
      logEvent(pretty.log, e)
      logEvent(json.log, e)
    }
    // The probe is debug: below info in both.
    expect(pretty.lines).toHaveLength(5)
    expect(json.lines).toHaveLength(5)
    const records = json.lines.map((l) => JSON.parse(l) as LogRecord)
    expect(records.map((r) => r.msg)).toEqual([
      'member node-3 joined',
      'member node-3 alive -> dead',
      'master is node-2 (term 4)',
      'no master',
      'stepped down as master (term 4): lost the majority of leases',
    ])
    expect(records[1]).toMatchObject({ level: 40, node: 'node-1', event: 'member-state', member: 'node-3', state: 'dead', previous: 'alive', incarnation: 2 })
    const strip = (l: string) => l.replace(/^\d\d:\d\d:\d\d\.\d{3} /, '')
    expect(pretty.lines.map(strip)).toEqual([
      'INFO  member node-3 joined',
      'WARN  member node-3 alive -> dead',
      'INFO  master is node-2 (term 4)',
      'INFO  no master',
      'WARN  stepped down as master (term 4): lost the majority of leases',
    ])
    // Same record, same line: the pretty form is a function of the JSON one.
    expect(records.map((r) => strip(formatRecord(r)))).toEqual(pretty.lines.map(strip))
  })

  it('auto is pretty on a terminal (with colors) and JSON otherwise', () => {
    const tty = capture('auto', 'info', true)
    tty.log.info('hello')
    expect(tty.lines[0]).toMatch(/\x1b\[32mINFO \x1b\[0m hello$/)
    const pipe = capture('auto', 'info', false)
    pipe.log.info('hello')
    expect(JSON.parse(pipe.lines[0])).toMatchObject({ level: 30, msg: 'hello', node: 'node-1' })
  })

  it('non-event records keep their fields as key=value; errors show their message', () => {
    const { log, lines } = capture('pretty')
    log.info({ peer: '12D3KooX', addrs: ['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2'], newKey: true, api: '127.0.0.1:7947' }, 'agent node-1 listening')
    log.error({ err: new Error('disk full') }, 'cannot save state')
    log.warn({ hook: 'master', reason: 'two words' }, 'hook master timed out')
    expect(lines[0]).toMatch(/INFO  agent node-1 listening peer=12D3KooX addrs=\/ip4\/127\.0\.0\.1\/tcp\/1,\/ip4\/127\.0\.0\.1\/tcp\/2 newKey=true api=127\.0\.0\.1:7947$/)
    expect(lines[1]).toMatch(/ERROR cannot save state err="disk full"$/)
    expect(lines[2]).toMatch(/WARN  hook master timed out hook=master reason="two words"$/)
  })

  it('a subscriber at debug gets probes while stderr stays at info; the level returns when it leaves', () => {
    const { log, lines } = capture('json', 'info')
    const bus = logBusOf(log)!
    const seen: LogRecord[] = []
    const unsubscribe = bus.subscribe(20, (r) => seen.push(r))
    expect(log.level).toBe('debug')
    logEvent(log, events[5])
    logEvent(log, events[0])
    expect(seen.map((r) => r.msg)).toEqual(['probe node-3 failed', 'member node-3 joined'])
    expect(lines.map((l) => (JSON.parse(l) as LogRecord).msg)).toEqual(['member node-3 joined'])
    unsubscribe()
    expect(log.level).toBe('info')
    const warnOnly: LogRecord[] = []
    bus.subscribe(40, (r) => warnOnly.push(r))
    for (const e of events) logEvent(log, e)
    expect(warnOnly.map((r) => r.msg)).toEqual(['member node-3 alive -> dead', 'stepped down as master (term 4): lost the majority of leases'])
  })
})
