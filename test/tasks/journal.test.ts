import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Journal } from '../../src/tasks/journal.ts'

const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'conclave-journal-'))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const base = { type: 'echo', payload: { a: 1 }, attempt: 1, node: null, term: null, origin: 'submit' as const, async: true, deadline: Date.now() + 60_000 }

describe('Journal', () => {
  it('keeps accepted tasks across a reopen and lists the unfinished ones', () => {
    const dir = tmp()
    const j = new Journal(dir)
    j.accept({ ...base, id: 'a', state: 'queued' })
    j.accept({ ...base, id: 'b', state: 'queued' })
    j.progress('b', 'forwarded', 1, 'node-1', 3)
    j.accept({ ...base, id: 'c', state: 'running' })
    j.finish('c', { id: 'c', type: 'echo', node: 'node-2', attempt: 1, result: { ok: true } }, true)
    j.close()

    const j2 = new Journal(dir)
    expect(j2.unfinished().map((r) => r.id)).toEqual(['a', 'b'])
    expect(j2.get('b')).toMatchObject({ state: 'forwarded', node: 'node-1', term: 3, payload: { a: 1 }, async: true })
    expect(j2.get('c')).toMatchObject({ state: 'succeeded', terminal: true, outcome: { result: { ok: true }, node: 'node-2' } })
    expect(j2.counts()).toEqual({ queued: 1, forwarded: 1, succeeded: 1 })
    j2.close()
  })

  it('records failures and lets a non-terminal id be accepted again', () => {
    const j = new Journal(tmp())
    j.accept({ ...base, id: 'x', state: 'queued' })
    j.finish('x', { id: 'x', type: 'echo', error: 'no-master', detail: 'no master: 1 of 3 voting members visible, 2 needed' }, false)
    expect(j.get('x')).toMatchObject({ state: 'failed', terminal: false, outcome: { error: 'no-master' } })
    j.accept({ ...base, id: 'x', state: 'queued', attempt: 2 })
    expect(j.get('x')).toMatchObject({ state: 'queued', terminal: false, outcome: null, attempt: 2, finishedAt: null })
    j.close()
  })

  it('bounds the finished history', () => {
    const j = new Journal(tmp(), { keepFinished: 5 })
    for (let i = 0; i < 20; i++) {
      j.accept({ ...base, id: `t${i}`, state: 'running' })
      j.finish(`t${i}`, { id: `t${i}`, type: 'echo', node: 'n', attempt: 1, result: i }, true)
    }
    j.accept({ ...base, id: 'open', state: 'running' })
    j.prune()
    expect(j.counts()).toEqual({ succeeded: 5, running: 1 })
    expect(j.recent(100)).toHaveLength(6)
    j.close()
  })
})
