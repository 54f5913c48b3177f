import { describe, expect, it } from 'vitest'
import { parseOnSection, parseTaskOptions, parseTasksSection, taskDefaults } from '../../src/tasks/config.ts'

describe('tasks config section', () => {
  it('parses the documented example with defaults', () => {
    const t = parseTasksSection({ 'rotate-keys': { masterOnly: true, command: ['./rotate.sh'], timeoutMs: 30000 }, thumbnail: { command: ['convert', '-'] } })
    expect(t['rotate-keys']).toMatchObject({ masterOnly: true, command: ['./rotate.sh'], timeoutMs: 30000, concurrency: taskDefaults.concurrency, retries: 0 })
    expect(t.thumbnail.masterOnly).toBe(false)
  })

  it('treats a missing section as no task types', () => {
    expect(parseTasksSection(undefined)).toEqual({})
  })

  it('names the field in errors', () => {
    expect(() => parseTasksSection({ x: { command: ['a'], timeoutMs: -1 } })).toThrow('tasks.x.timeoutMs: expected a positive integer')
    expect(() => parseTasksSection({ x: { command: [] } })).toThrow('tasks.x.command')
    expect(() => parseTasksSection({ x: { masterOnly: true } })).toThrow('tasks.x.command')
    expect(() => parseTasksSection({ x: { command: ['a'], bogus: 1 } })).toThrow('tasks.x: unknown field "bogus"')
    expect(() => parseTasksSection({ 'bad name': { command: ['a'] } })).toThrow('tasks.bad name: invalid name')
    expect(() => parseTasksSection({ x: { command: ['a'], masterOnly: 'yes' } })).toThrow('tasks.x.masterOnly: expected true or false')
  })

  it('validates library handler options', () => {
    expect(parseTaskOptions('echo', { masterOnly: true }).masterOnly).toBe(true)
    expect(() => parseTaskOptions('echo', { concurrency: 0 })).toThrow('handle(echo).concurrency')
    expect(() => parseTaskOptions('a b', {})).toThrow('task type "a b"')
  })
})

describe('on (hooks) config section', () => {
  it('accepts an argv, an object, or a list', () => {
    const on = parseOnSection({ becomeMaster: ['./m.sh'], memberJoin: [{ command: ['a'], timeoutMs: 5 }, ['b']] })
    expect(on.becomeMaster).toEqual([{ command: ['./m.sh'], timeoutMs: 10_000 }])
    expect(on.memberJoin).toEqual([{ command: ['a'], timeoutMs: 5 }, { command: ['b'], timeoutMs: 10_000 }])
  })

  it('names the field in errors', () => {
    expect(() => parseOnSection({ whatever: ['a'] })).toThrow('on: unknown field "whatever"')
    expect(() => parseOnSection({ stopMaster: 'x' })).toThrow('on.stopMaster')
  })
})

describe('wire limits', () => {
  it('refuses payload and output bounds that cannot cross the task protocol', () => {
    expect(() => parseTasksSection({ x: { command: ['a'], maxOutputBytes: 8 * 1024 * 1024 } })).toThrow('tasks.x.maxOutputBytes: must be at most 3145728')
    expect(() => parseTasksSection({ x: { command: ['a'], maxPayloadBytes: 8 * 1024 * 1024 } })).toThrow('tasks.x.maxPayloadBytes: must be at most 3145728')
  })
})
