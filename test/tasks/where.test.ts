// Placement by tags (submit --where): the pure routing rule in src/core/routing.ts.
import { describe, expect, it } from 'vitest'
import { lowestId } from '../../src/core/order.ts'
import { pickWhere, routeSubmit, type PlacementCandidate, type SubmitView } from '../../src/core/routing.ts'

const c = (id: string, tags: Record<string, string>, load: [number, number, number] | null, extra: Partial<PlacementCandidate> = {}): PlacementCandidate => ({
  id, state: 'alive', tags, load: load && { running: load[0], queued: load[1], concurrency: load[2] }, knowsType: load ? true : null, ...extra,
})
const web = { role: 'web' }

describe('pickWhere', () => {
  it('picks the least loaded live member with every tag', () => {
    const cs = [c('node-1', { role: 'db' }, [0, 0, 4]), c('node-2', web, [3, 0, 4]), c('node-3', web, [1, 0, 4]), c('node-4', { role: 'web', zone: 'b' }, [2, 0, 4])]
    expect(pickWhere(cs, web, 'node-1')?.id).toBe('node-3')
    expect(pickWhere(cs, { role: 'web', zone: 'b' }, 'node-1')?.id).toBe('node-4')
    expect(pickWhere(cs, { role: 'cache' }, 'node-1')).toBeNull()
  })

  it('load is relative to the type’s concurrency; queued counts', () => {
    const cs = [c('node-2', web, [2, 0, 8]), c('node-3', web, [1, 1, 4])]
    expect(pickWhere(cs, web, 'x')?.id).toBe('node-2')
  })

  it('skips members that are not alive or said they lack the type; unknown load comes after known load', () => {
    const cs = [
      c('node-2', web, [0, 0, 4], { state: 'suspect' }),
      c('node-3', web, [0, 0, 4], { state: 'dead' }),
      c('node-4', web, null, { knowsType: false }),
      c('node-5', web, null),
      c('node-6', web, [4, 2, 4]),
    ]
    expect(pickWhere(cs, web, 'x')?.id).toBe('node-6')
    expect(pickWhere(cs.slice(0, 4), web, 'x')?.id).toBe('node-5')
    expect(pickWhere(cs.slice(0, 3), web, 'x')).toBeNull()
  })

  it('ties go to this node, then to the lowest id in natural order', () => {
    const cs = [c('node-10', web, [1, 0, 4]), c('node-9', web, [1, 0, 4]), c('node-2', web, [1, 0, 4])]
    expect(pickWhere(cs, web, 'node-9')?.id).toBe('node-9')
    expect(pickWhere(cs, web, 'node-1')?.id).toBe('node-2')
  })

  it('the lowest id of a tie is the election’s (compareIds), case and all, so every node picks the same one', () => {
    const ids = ['node-b', 'Node-c', 'node-10', 'node-9']
    const cs = ids.map((id) => c(id, web, [1, 0, 4]))
    expect(pickWhere(cs, web, 'x')?.id).toBe(lowestId(ids))
    expect(pickWhere(cs, web, 'x')?.id).toBe('Node-c')
  })
})

describe('routeSubmit with where', () => {
  const base: SubmitView = {
    masterOnly: false, self: 'node-1', master: { id: 'node-1', term: 3 }, isMaster: true,
    quorum: { has: true, visible: 3, voting: 3, needed: 2 }, deadline: 1_000, now: 0,
  }
  it('runs here when this node is the pick, forwards otherwise, waits while nobody matches, fails at the deadline', () => {
    const cs = [c('node-1', web, [0, 0, 4]), c('node-2', web, [3, 0, 4]), c('node-3', { role: 'db' }, [0, 0, 4])]
    expect(routeSubmit({ ...base, where: web, candidates: cs })).toEqual({ action: 'run-local' })
    expect(routeSubmit({ ...base, where: { role: 'db' }, candidates: cs })).toEqual({ action: 'forward', to: 'node-3', term: 3 })
    expect(routeSubmit({ ...base, master: null, where: { role: 'db' }, candidates: cs })).toEqual({ action: 'forward', to: 'node-3', term: undefined })
    expect(routeSubmit({ ...base, where: { role: 'cache' }, candidates: cs })).toMatchObject({ action: 'wait', reason: 'no live member with tags role=cache that runs this type' })
    expect(routeSubmit({ ...base, now: 1_000, where: { role: 'cache' }, candidates: cs })).toMatchObject({ action: 'fail', error: 'no-match' })
  })
  it('an empty where is no constraint: run where submitted', () => {
    expect(routeSubmit({ ...base, where: {}, candidates: [] })).toEqual({ action: 'run-local' })
  })
})
