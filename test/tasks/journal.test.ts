import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { afterAll, describe, expect, it } from 'vitest'
import { Journal, JournalError, JOURNAL_VERSION } from '../../src/tasks/journal.ts'

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

/** Copy a live journal's files (db + WAL), as a crash of the process or a power cut after the fsync leaves them. */
function crashCopy(from: string): string {
  const to = tmp()
  for (const f of ['tasks.sqlite', 'tasks.sqlite-wal']) if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f))
  return to
}

function journalWithTen(): { dir: string; j: Journal } {
  const dir = tmp()
  const j = new Journal(dir)
  for (let i = 0; i < 10; i++) {
    j.accept({ ...base, id: `task-${i}`, state: 'queued', payload: { i, pad: 'x'.repeat(300) } })
    j.commit() // one commit each, as 202s of separate turns would
  }
  return { dir, j }
}

describe('Journal, group commit', () => {
  it('writes of one turn share one transaction; durable() resolves once it is committed, and a crash copy then has them', async () => {
    const dir = tmp()
    const j = new Journal(dir)
    for (let i = 0; i < 50; i++) j.accept({ ...base, id: `g${i}`, state: 'queued' })
    expect(j.get('g49')).toMatchObject({ state: 'queued' }) // read-your-writes inside the open transaction
    const before = crashCopy(dir)
    await j.durable()
    const after = crashCopy(dir)
    j.close()
    const jb = new Journal(before)
    expect(jb.unfinished()).toHaveLength(0) // not committed yet when copied: nothing was promised
    jb.close()
    const ja = new Journal(after)
    expect(ja.unfinished()).toHaveLength(50)
    ja.close()
  })
})

describe('Journal, nothing on disk trusted blindly', () => {
  it('keeps every accepted task through a crash (the WAL is replayed) and opens it at layout version 2', () => {
    const { dir, j } = journalWithTen()
    const copy = crashCopy(dir)
    j.close()
    expect(statSync(join(copy, 'tasks.sqlite-wal')).size).toBeGreaterThan(0)
    const j2 = new Journal(copy)
    expect(j2.unfinished().map((r) => r.id)).toEqual(Array.from({ length: 10 }, (_, i) => `task-${i}`))
    j2.close()
    const db = new DatabaseSync(join(copy, 'tasks.sqlite'))
    expect(db.prepare('PRAGMA user_version').get()).toEqual({ user_version: JOURNAL_VERSION })
    db.close()
  })

  it('refuses a WAL cut in half (SQLite alone would open it with some accepted tasks silently gone)', () => {
    const { dir, j } = journalWithTen()
    const copy = crashCopy(dir)
    j.close()
    const wal = join(copy, 'tasks.sqlite-wal')
    truncateSync(wal, Math.floor(statSync(wal).size / 2))
    expect(() => new Journal(copy)).toThrow(JournalError)
    try {
      new Journal(copy)
    } catch (e) {
      const msg = (e as Error).message
      expect(msg).toContain(join(copy, 'tasks.sqlite'))
      expect(msg).toMatch(/write-ahead log is cut/)
      expect(msg).toMatch(/move .* aside/)
      expect(msg).toMatch(/pending in it are then lost/)
      expect(msg).not.toContain('\n')
    }
  })

  it('refuses a WAL with a damaged frame', () => {
    const { dir, j } = journalWithTen()
    const copy = crashCopy(dir)
    j.close()
    const wal = join(copy, 'tasks.sqlite-wal')
    const bytes = readFileSync(wal)
    bytes[32 + 24 + 100] ^= 0xff // inside the first frame's page
    writeFileSync(wal, bytes)
    expect(() => new Journal(copy)).toThrow(/checksum of frame 1 .* does not match/)
  })

  it('refuses a truncated database file', () => {
    const { dir, j } = journalWithTen()
    for (let i = 0; i < 300; i++) j.accept({ ...base, id: `more-${i}`, state: 'queued', payload: 'y'.repeat(500) })
    j.close() // checkpoints: everything is in tasks.sqlite, the WAL is gone
    const db = join(dir, 'tasks.sqlite')
    truncateSync(db, Math.floor(statSync(db).size / 2 / 4096) * 4096)
    expect(() => new Journal(dir)).toThrow(JournalError)
  })

  it('refuses a journal written by a newer layout, and migrates the original layout', () => {
    const newer = tmp()
    new Journal(newer).close()
    const db = new DatabaseSync(join(newer, 'tasks.sqlite'))
    db.exec('PRAGMA user_version = 99')
    db.close()
    expect(() => new Journal(newer)).toThrow(/layout version 99 is newer/)

    const old = tmp()
    const odb = new DatabaseSync(join(old, 'tasks.sqlite'))
    odb.exec(`CREATE TABLE tasks (id TEXT PRIMARY KEY, type TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL, outcome TEXT,
      terminal INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL, node TEXT, term INTEGER, origin TEXT NOT NULL, async INTEGER NOT NULL,
      deadline INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, finished_at INTEGER);
      INSERT INTO tasks VALUES ('o1', 'echo', 'null', 'queued', NULL, 0, 1, NULL, NULL, 'submit', 1, 0, 1, 1, NULL);`)
    odb.close()
    const j = new Journal(old)
    expect(j.get('o1')).toMatchObject({ state: 'queued', interruptions: 0 })
    j.requeue('o1', 2, true)
    expect(j.get('o1')).toMatchObject({ state: 'queued', attempt: 2, interruptions: 1 })
    j.close()
  })

  it('refuses a file that is not a database', () => {
    const d = tmp()
    writeFileSync(join(d, 'tasks.sqlite'), 'this is not sqlite'.repeat(100))
    expect(() => new Journal(d)).toThrow(JournalError)
  })
})
