import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import type { Member } from '../../src/core/types.ts'
import { parseOnSection } from '../../src/tasks/config.ts'
import { HookRunner } from '../../src/tasks/hooks.ts'

const dir = mkdtempSync(join(tmpdir(), 'conclave-hooks-'))
const log = pino({ level: 'silent' })
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const member = (id: string, state: Member['state']): Member => ({ id, peer: `peer-${id}`, addrs: [`/ip4/127.0.0.1/tcp/1/p2p/peer-${id}`], incarnation: 1, state, since: 0, aliveSince: 0 })

describe('HookRunner', () => {
  it('runs the configured command per event, in order, with the event in env and on stdin', async () => {
    const out = join(dir, 'events.log')
    const line = `printf '%s %s %s %s %s|' "$CONCLAVE_EVENT" "$CONCLAVE_NODE_ID" "$CONCLAVE_MASTER_TERM" "$CONCLAVE_MEMBER_ID" "$CONCLAVE_MEMBER_PREVIOUS_STATE" >> ${out}; cat >> ${out}; echo >> ${out}`
    const on = parseOnSection({
      becomeMaster: ['sh', '-c', line],
      stopMaster: ['sh', '-c', line],
      memberJoin: ['sh', '-c', line],
      memberFail: ['sh', '-c', line],
      memberLeave: ['sh', '-c', line],
    })
    const h = new HookRunner(on, 'node-1', log, () => 7)
    h.observe({ type: 'became-master', term: 7 })
    h.observe({ type: 'member-joined', member: member('node-2', 'alive') })
    h.observe({ type: 'member-joined', member: member('node-1', 'alive') }) // self: no hook
    h.observe({ type: 'member-state', member: member('node-2', 'suspect'), previous: 'alive' }) // suspect: no hook
    h.observe({ type: 'member-state', member: member('node-2', 'dead'), previous: 'suspect' })
    h.observe({ type: 'member-state', member: member('node-2', 'alive'), previous: 'dead' })
    h.observe({ type: 'member-state', member: member('node-3', 'left'), previous: 'alive' })
    h.observe({ type: 'stepped-down', term: 7, reason: 'lost the majority of leases' })
    await h.whenIdle()
    const lines = readFileSync(out, 'utf8').trim().split('\n')
    expect(lines.map((l) => l.split('|')[0])).toEqual([
      'become-master node-1 7  ',
      'member-join node-1 7 node-2 ',
      'member-fail node-1 7 node-2 suspect',
      'member-join node-1 7 node-2 dead',
      'member-leave node-1 7 node-3 alive',
      'stop-master node-1 7  ',
    ])
    expect(JSON.parse(lines[0].split('|')[1])).toEqual({ event: 'become-master', node: 'node-1', term: 7 })
    expect(JSON.parse(lines[5].split('|')[1])).toMatchObject({ event: 'stop-master', reason: 'lost the majority of leases' })
    expect(h.recent.map((r) => r.exitCode)).toEqual([0, 0, 0, 0, 0, 0])
  })

  it('kills a hook at its timeout and keeps going', async () => {
    const out = join(dir, 'after-timeout')
    const on = parseOnSection({ becomeMaster: [{ command: ['sh', '-c', 'sleep 30'], timeoutMs: 200 }, ['sh', '-c', `touch ${out}`]] })
    const h = new HookRunner(on, 'node-1', log, () => 1)
    h.observe({ type: 'became-master', term: 1 })
    await h.whenIdle()
    expect(h.recent[0]).toMatchObject({ event: 'becomeMaster', timedOut: true })
    expect(existsSync(out)).toBe(true)
  })

  it('does nothing for events without a hook', async () => {
    const h = new HookRunner({}, 'node-1', log, () => undefined)
    h.observe({ type: 'became-master', term: 1 })
    await h.whenIdle()
    expect(h.recent).toEqual([])
  })
})
