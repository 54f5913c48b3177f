import { describe, expect, it } from 'vitest'
import { masterOnlyStartRefusal, noMasterReason, routeReceive, routeSubmit, type ReceiveView, type SubmitView } from '../../src/core/routing.ts'

const quorumOk = { has: true, visible: 5, voting: 5, needed: 3 }
const noQuorum = { has: false, visible: 2, voting: 5, needed: 3 }

function sv(over: Partial<SubmitView>): SubmitView {
  return { masterOnly: true, self: 'node-2', master: { id: 'node-1', term: 4 }, isMaster: false, quorum: quorumOk, deadline: 10_000, now: 0, ...over }
}

function rv(over: Partial<ReceiveView>): ReceiveView {
  return { masterOnly: true, known: true, self: 'node-1', master: { id: 'node-1', term: 4 }, isMaster: true, finished: false, inProgress: false, ...over }
}

describe('routeSubmit', () => {
  it('runs a non-masterOnly task where it was submitted, master or not', () => {
    expect(routeSubmit(sv({ masterOnly: false }))).toEqual({ action: 'run-local' })
    expect(routeSubmit(sv({ masterOnly: false, master: null, quorum: noQuorum }))).toEqual({ action: 'run-local' })
  })

  it('forwards a masterOnly task to the master this node recognises', () => {
    expect(routeSubmit(sv({}))).toEqual({ action: 'forward', to: 'node-1', term: 4 })
  })

  it('runs a masterOnly task locally on the master, with its term as fencing token', () => {
    expect(routeSubmit(sv({ self: 'node-1', isMaster: true }))).toEqual({ action: 'run-local', term: 4 })
  })

  it('waits when the recognised master is this node but it holds no majority of grants right now', () => {
    const d = routeSubmit(sv({ self: 'node-1', isMaster: false }))
    expect(d.action).toBe('wait')
    expect(d.action === 'wait' && d.reason).toMatch(/node-1 is the master candidate/)
  })

  it('waits with the quorum arithmetic when there is no master', () => {
    expect(routeSubmit(sv({ master: null, quorum: noQuorum }))).toEqual({
      action: 'wait',
      reason: 'no master: 2 of 5 voting members visible, 3 needed',
    })
  })

  it('fails with no-master and the explanation at the deadline', () => {
    expect(routeSubmit(sv({ master: null, quorum: noQuorum, now: 10_000 }))).toEqual({
      action: 'fail',
      error: 'no-master',
      reason: 'no master: 2 of 5 voting members visible, 3 needed',
    })
  })

  it('fails with timeout at the deadline when a master is known', () => {
    const d = routeSubmit(sv({ now: 10_001 }))
    expect(d).toMatchObject({ action: 'fail', error: 'timeout' })
    expect(d.action === 'fail' && d.reason).toMatch(/node-1/)
  })

  it('follows a redirect to a master with an equal or higher term', () => {
    expect(routeSubmit(sv({ redirect: { id: 'node-3', term: 5 } }))).toEqual({ action: 'forward', to: 'node-3', term: 5 })
    expect(routeSubmit(sv({ redirect: { id: 'node-3', term: 4 } }))).toEqual({ action: 'forward', to: 'node-3', term: 4 })
    expect(routeSubmit(sv({ master: null, redirect: { id: 'node-3', term: 1 } }))).toEqual({ action: 'forward', to: 'node-3', term: 1 })
  })

  it('ignores a redirect to an older term than its own view', () => {
    expect(routeSubmit(sv({ redirect: { id: 'node-3', term: 3 } }))).toEqual({ action: 'forward', to: 'node-1', term: 4 })
  })

  it('never forwards to itself: a redirect naming this node without the lease falls back or waits', () => {
    expect(routeSubmit(sv({ redirect: { id: 'node-2', term: 9 } }))).toEqual({ action: 'forward', to: 'node-1', term: 4 })
    expect(routeSubmit(sv({ master: null, redirect: { id: 'node-2', term: 9 } })).action).toBe('wait')
  })

  it('fails a local task whose deadline already passed', () => {
    expect(routeSubmit(sv({ masterOnly: false, now: 10_000 }))).toMatchObject({ action: 'fail', error: 'timeout' })
  })
})

describe('routeReceive', () => {
  it('runs a masterOnly task when master with quorum', () => {
    expect(routeReceive(rv({}))).toEqual({ action: 'run', term: 4 })
  })

  it('redirects to the master it believes in when not master', () => {
    expect(routeReceive(rv({ self: 'node-2', isMaster: false }))).toEqual({ action: 'redirect', master: { id: 'node-1', term: 4 } })
  })

  it('redirects with no master when it knows none or believes in itself without the lease', () => {
    expect(routeReceive(rv({ isMaster: false, master: null }))).toEqual({ action: 'redirect', master: null })
    expect(routeReceive(rv({ isMaster: false }))).toEqual({ action: 'redirect', master: null })
  })

  it('returns the stored outcome for a finished id even when no longer master (idempotence)', () => {
    expect(routeReceive(rv({ finished: true, isMaster: false, master: null }))).toEqual({ action: 'stored' })
    expect(routeReceive(rv({ finished: true, known: false }))).toEqual({ action: 'stored' })
  })

  it('joins a task id already in progress instead of running it twice', () => {
    expect(routeReceive(rv({ inProgress: true }))).toEqual({ action: 'join' })
  })

  it('rejects an unknown type', () => {
    expect(routeReceive(rv({ known: false }))).toMatchObject({ action: 'reject', error: 'unknown-type' })
  })

  it('runs a forwarded non-masterOnly task on any node', () => {
    expect(routeReceive(rv({ masterOnly: false, self: 'node-3', isMaster: false, master: { id: 'node-1', term: 4 } }))).toEqual({ action: 'run', term: undefined })
  })
})

describe('noMasterReason', () => {
  it('explains a quorum that is present but has no master yet', () => {
    expect(noMasterReason(quorumOk, 'node-2', null, false)).toMatch(/no master elected yet/)
  })
})

describe('masterOnlyStartRefusal', () => {
  const self = 'node-1'
  it('lets a run start while this node is master under the term that accepted it', () => {
    expect(masterOnlyStartRefusal({ self, master: { id: self, term: 4 }, isMaster: true }, 4)).toBeNull()
  })
  it('refuses once the node stepped down, whoever it now recognises', () => {
    expect(masterOnlyStartRefusal({ self, master: { id: 'node-2', term: 5 }, isMaster: false }, 4)).toBe('node-1 is no longer master (accepted under term 4)')
    expect(masterOnlyStartRefusal({ self, master: null, isMaster: false }, 4)).toMatch(/no longer master/)
    expect(masterOnlyStartRefusal({ self, master: { id: self, term: 4 }, isMaster: false }, 4)).toMatch(/no longer master/)
  })
  it('refuses under a newer term of its own: the step-down between them fenced the old one', () => {
    expect(masterOnlyStartRefusal({ self, master: { id: self, term: 5 }, isMaster: true }, 4)).toBe('node-1 is master under term 5, not term 4 it accepted the task under')
  })
})
