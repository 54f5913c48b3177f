import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { afterAll, describe, expect, it } from 'vitest'
import type { Member } from '../../src/core/types.ts'
import { parseOnSection } from '../../src/tasks/config.ts'
import { HookRunner } from '../../src/tasks/hooks.ts'

const dir = mkdtempSync(join(tmpdir(), 'conclave-hooks-'))
const log = pino({ level: 'silent' })
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const member = (id: string, state: Member['state'], extra: Partial<Member> & { tags?: Record<string, string> } = {}): Member => ({
  id, peer: `peer-${id}`, addrs: [`/ip4/127.0.0.1/tcp/1/p2p/peer-${id}`], incarnation: 1, state, since: 0, aliveSince: 0, ...extra,
})
let files = 0
/** A hook that appends "<env>|<stdin>" as one line to a fresh file; returns the command and a reader. */
function recorder(envVars: string[], sleep = 0) {
  const out = join(dir, `out-${++files}`)
  const fmt = envVars.map(() => '%s').join(' ')
  const command = ['sh', '-c', `${sleep ? `sleep ${sleep}; ` : ''}printf '${fmt}|' ${envVars.map((v) => `"$${v}"`).join(' ')} >> ${out}; cat >> ${out}; echo >> ${out}`]
  const lines = () => (existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n') : [])
  return { command, lines, env: () => lines().map((l) => l.split('|')[0]), bodies: () => lines().map((l) => JSON.parse(l.slice(l.indexOf('|') + 1))) }
}
const metric = async (reg: Registry, labels: Record<string, string>) =>
  (await reg.getSingleMetric('conclave_hook_runs_total')!.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0

describe('HookRunner', () => {
  it('runs the configured command per event, in order, with the event in env and on stdin, off the caller’s path', async () => {
    const r = recorder(['CONCLAVE_EVENT', 'CONCLAVE_NODE_ID', 'CONCLAVE_MASTER_TERM', 'CONCLAVE_MEMBER_ID', 'CONCLAVE_MEMBER_PREVIOUS_STATE'])
    const on = parseOnSection({ becomeMaster: r.command, stopMaster: r.command, memberJoin: r.command, memberFail: r.command, memberLeave: r.command, coalesceMs: 0 })
    const h = new HookRunner(on, 'node-1', log, () => 7)
    h.observe({ type: 'became-master', term: 7 })
    // The agent never waits: nothing has run when observe() returns.
    expect(h.recent).toEqual([])
    h.observe({ type: 'member-joined', member: member('node-2', 'alive') })
    h.observe({ type: 'member-joined', member: member('node-1', 'alive') }) // self: no hook
    h.observe({ type: 'member-state', member: member('node-2', 'suspect'), previous: 'alive' }) // suspect: no hook
    h.observe({ type: 'member-state', member: member('node-2', 'dead'), previous: 'suspect' })
    h.observe({ type: 'member-state', member: member('node-2', 'alive'), previous: 'dead' })
    h.observe({ type: 'member-state', member: member('node-3', 'left'), previous: 'alive' })
    h.observe({ type: 'stepped-down', term: 7, reason: 'lost the majority of leases' })
    await h.whenIdle()
    expect(r.env()).toEqual([
      'become-master node-1 7  ',
      'member-join node-1 7 node-2 ',
      'member-failed node-1 7 node-2 suspect',
      'member-join node-1 7 node-2 dead',
      'member-leave node-1 7 node-3 alive',
      'stop-master node-1 7  ',
    ])
    const bodies = r.bodies()
    expect(bodies[0]).toEqual({ event: 'become-master', node: 'node-1', term: 7 })
    expect(bodies[2]).toMatchObject({ event: 'member-failed', member: { id: 'node-2', state: 'dead' }, previous: 'suspect', members: [{ member: { id: 'node-2' }, previous: 'suspect' }] })
    expect(bodies[5]).toMatchObject({ event: 'stop-master', reason: 'lost the majority of leases' })
    expect(h.recent.map((x) => x.exitCode)).toEqual([0, 0, 0, 0, 0, 0])
  })

  it('coalesces a burst of member events of one kind into one run that lists every member', async () => {
    const r = recorder(['CONCLAVE_EVENT', 'CONCLAVE_MEMBERS', 'CONCLAVE_COALESCED', 'CONCLAVE_MEMBER_ID'])
    const h = new HookRunner(parseOnSection({ memberFail: r.command, memberJoin: r.command, coalesceMs: 300 }), 'node-1', log, () => 1)
    for (const id of ['node-2', 'node-3', 'node-4']) h.observe({ type: 'member-state', member: member(id, 'dead'), previous: 'suspect' })
    // A second change of node-3 replaces its first one: the latest of each member wins.
    h.observe({ type: 'member-state', member: member('node-3', 'dead', { incarnation: 2 }), previous: 'alive' })
    // A different kind after them is its own run, after them.
    h.observe({ type: 'member-state', member: member('node-2', 'alive'), previous: 'dead' })
    await h.whenIdle()
    expect(r.env()).toEqual(['member-failed node-2 node-4 node-3 4 node-3', 'member-join node-2 1 node-2'])
    const failed = r.bodies()[0]
    expect(failed.members.map((c: { member: { id: string; incarnation: number } }) => `${c.member.id}:${c.member.incarnation}`)).toEqual(['node-2:1', 'node-4:1', 'node-3:2'])
    expect(h.recent.map((x) => x.coalesced)).toEqual([4, 1])
  })

  it('events that pile up while a slow hook runs become one run after it', async () => {
    const r = recorder(['CONCLAVE_MEMBERS'], 0.4)
    const h = new HookRunner(parseOnSection({ memberJoin: r.command, coalesceMs: 0 }), 'node-1', log, () => 1)
    h.observe({ type: 'member-joined', member: member('node-2', 'alive') })
    await new Promise((res) => setTimeout(res, 100))
    for (const id of ['node-3', 'node-4', 'node-5']) h.observe({ type: 'member-joined', member: member(id, 'alive') })
    await h.whenIdle()
    expect(r.env()).toEqual(['node-2', 'node-3 node-4 node-5'])
  })

  it('role hooks: master/backup/fault on transitions; a flap while waiting collapses to the latest role, a return to the delivered role runs nothing', async () => {
    const r = recorder(['CONCLAVE_EVENT', 'CONCLAVE_ROLE', 'CONCLAVE_PREVIOUS_ROLE'], 0.3)
    let state = { isMaster: false, hasQuorum: false }
    const on = parseOnSection({ master: r.command, backup: r.command, fault: r.command, coalesceMs: 0 })
    const h = new HookRunner(on, 'node-1', log, () => undefined, undefined, { role: () => state })
    const tick = () => h.observe({ type: 'suspicion', id: 'node-9', by: 'node-8' })
    tick() // first look: fault (no quorum yet), runs for 0.3 s
    await new Promise((res) => setTimeout(res, 50))
    state = { isMaster: false, hasQuorum: true }
    tick() // backup, waits behind the running fault hook
    state = { isMaster: false, hasQuorum: false }
    tick() // back to fault before backup ran: nothing new to say
    await h.whenIdle()
    expect(r.env()).toEqual(['fault fault '])
    state = { isMaster: false, hasQuorum: true }
    tick()
    state = { isMaster: true, hasQuorum: true }
    tick()
    await h.whenIdle()
    // Nothing was running: backup ran at once, master waited for it.
    expect(r.env()).toEqual(['fault fault ', 'backup backup fault', 'master master backup'])
    expect(r.bodies()[2]).toMatchObject({ event: 'master', role: 'master', previous: 'backup' })
    h.stop()
  })

  it('memberUpdate runs when a live member’s tags change, with the tags in the environment', async () => {
    const r = recorder(['CONCLAVE_EVENT', 'CONCLAVE_MEMBER_ID', 'CONCLAVE_MEMBER_TAGS'])
    let members = [member('node-1', 'alive'), member('node-2', 'alive', { tags: { role: 'web' } })]
    const h = new HookRunner(parseOnSection({ memberUpdate: r.command, coalesceMs: 0 }), 'node-1', log, () => 1, undefined, { members: () => members })
    members = [member('node-1', 'alive', { tags: { x: '1' } }), member('node-2', 'alive', { tags: { role: 'db', zone: 'b' } })]
    h.observe({ type: 'refuted', incarnation: 2 })
    await h.whenIdle()
    expect(r.env()).toEqual(['member-update node-2 role=db,zone=b'])
    h.stop()
  })

  it('kills a hook at its timeout, keeps going, and counts exit codes in metrics', async () => {
    const out = join(dir, 'after-timeout')
    const metrics = new Registry()
    const on = parseOnSection({ becomeMaster: [{ command: ['sh', '-c', 'sleep 30'], timeoutMs: 200 }, ['sh', '-c', `touch ${out}`], ['sh', '-c', 'exit 3'], ['/nonexistent/hook']] })
    const h = new HookRunner(on, 'node-1', log, () => 1, undefined, { metrics })
    h.observe({ type: 'became-master', term: 1 })
    await h.whenIdle()
    expect(h.recent[0]).toMatchObject({ event: 'becomeMaster', timedOut: true })
    expect(existsSync(out)).toBe(true)
    expect(await metric(metrics, { event: 'becomeMaster', exit_code: 'timeout' })).toBe(1)
    expect(await metric(metrics, { event: 'becomeMaster', exit_code: '0' })).toBe(1)
    expect(await metric(metrics, { event: 'becomeMaster', exit_code: '3' })).toBe(1)
    expect(await metric(metrics, { event: 'becomeMaster', exit_code: 'spawn-error' })).toBe(1)
  })

  it('a reload applies to later events; a queued run keeps its hooks; role checks start when role hooks appear', async () => {
    const a = recorder(['CONCLAVE_EVENT'], 0.3)
    const b = recorder(['CONCLAVE_EVENT'])
    const h = new HookRunner(parseOnSection({ becomeMaster: a.command }), 'node-1', log, () => 1, undefined, { role: () => ({ isMaster: true, hasQuorum: true }) })
    h.observe({ type: 'became-master', term: 1 })
    h.observe({ type: 'became-master', term: 2 }) // queued behind the first, with hook a
    h.reconfigure(parseOnSection({ becomeMaster: b.command, master: b.command, coalesceMs: 0 }))
    h.observe({ type: 'became-master', term: 3 })
    await new Promise((res) => setTimeout(res, 1_200)) // the periodic role check notices master
    await h.whenIdle()
    expect(a.env()).toEqual(['become-master', 'become-master'])
    expect(b.env().sort()).toEqual(['become-master', 'master'])
    h.stop()
  })

  it('does nothing for events without a hook', async () => {
    const h = new HookRunner({}, 'node-1', log, () => undefined)
    h.observe({ type: 'became-master', term: 1 })
    await h.whenIdle()
    expect(h.recent).toEqual([])
  })

  it('rejects a bad coalesceMs with the field named', () => {
    expect(() => parseOnSection({ coalesceMs: -1 })).toThrow('on.coalesceMs: expected an integer >= 0')
    expect(() => parseOnSection({ memberUpdated: ['x'] })).toThrow(/unknown field "memberUpdated"/)
  })
})
