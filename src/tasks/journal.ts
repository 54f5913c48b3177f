// The task journal: one SQLite file (node:sqlite, built into Node 24) in the data dir.
// It holds every task this agent accepted or ran, so that an async task answered with 202 survives a restart,
// and a finished task id returns its stored outcome instead of running twice on this node.
// Nothing on disk is trusted blindly: before use, the write-ahead log's checksum chain, SQLite's quick_check
// and the layout version are checked; a damaged journal stops the agent (JournalError), it is never reset.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import type { TaskOutcome, TaskRecord, TaskState } from './types.ts'
import { checkWal } from './wal-check.ts'

export const JOURNAL_FILE = 'tasks.sqlite'
/**
 * Layout version kept in PRAGMA user_version. 1 (or 0, before versioning): the original table; 2: + interruptions;
 * 3: + the process group of a running command handler (pgid, its leader's start time, the boot id).
 */
export const JOURNAL_VERSION = 3

/** The journal cannot be trusted; the message is one line naming the file and the way out. */
export class JournalError extends Error {
  override name = 'JournalError'
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(
      `task journal ${path} is unusable (${problem}); the agent does not start on it. Way out: with no agent running on this data dir, ` +
        `move ${path} and its -wal and -shm files aside and start again; the async tasks still pending in it are then lost ` +
        `(and its finished task ids forgotten), so resubmit them`,
    )
  }
}

export interface JournalOptions {
  /** Finished records kept; older ones are pruned (their ids are then forgotten). */
  keepFinished?: number
}

interface Row {
  id: string
  type: string
  payload: string
  state: string
  outcome: string | null
  terminal: number
  attempt: number
  node: string | null
  term: number | null
  origin: string
  async: number
  deadline: number
  created_at: number
  updated_at: number
  finished_at: number | null
  interruptions: number
  pgid: number | null
  pg_start: number | null
  boot_id: string | null
}

export interface StoredRecord extends TaskRecord {
  /** The outcome came from a handler run (here or on the master): a retried id returns it, never runs again. */
  terminal: boolean
  /** Times a stop or crash of this agent cut a run of this task short (see the restart rule in docs/tasks.md). */
  interruptions: number
  /** The process group of the command handler running it, as journaled at spawn: a restart kills what is left. */
  group: { pgid: number; leaderStart: number | null; bootId: string | null } | null
}

const UNFINISHED: TaskState[] = ['queued', 'forwarded', 'running']

type StatementName = 'get' | 'insert' | 'progress' | 'finish' | 'requeue' | 'recent' | 'unfinished' | 'prune' | 'count' | 'group'

/**
 * Group commit, fsync off the event loop. The writes of one event-loop turn share one transaction, committed on
 * the next setImmediate; then the write-ahead log is fsynced through an async file handle (libuv's thread pool),
 * and only then does durable() resolve. node:sqlite is synchronous: with synchronous=FULL every commit's fsync
 * stalled the event loop, and during a burst of submits on a busy disk that cost the master its lease. Here
 * SQLite runs with synchronous=NORMAL (its WAL commits do not fsync; it still syncs around checkpoints) and this
 * class makes each commit durable itself: fsync covers the whole file, whichever descriptor wrote it. Nothing
 * that depends on a write (a 202, an outcome) leaves the process before durable() resolved.
 */
export class Journal {
  readonly path: string
  private readonly db: DatabaseSync
  private readonly keep: number
  private finishesSincePrune = 0
  private readonly st: Record<StatementName, StatementSync>
  private inTransaction = false
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = []
  /** The fsync covering every commit made so far (resolved when there is none pending). */
  private lastSync: Promise<void> = Promise.resolve()
  private wal: Promise<FileHandle> | null = null

  /** Opens and checks the journal; throws JournalError when it is damaged, cut or of an unknown layout. */
  constructor(dataDir: string, opts: JournalOptions = {}) {
    mkdirSync(dataDir, { recursive: true })
    this.path = join(dataDir, JOURNAL_FILE)
    this.keep = opts.keepFinished ?? 10_000
    const existed = existsSync(this.path)
    // The WAL first: once SQLite opens the file it replays the WAL and drops a cut tail without a word.
    const wal = checkWal(`${this.path}-wal`)
    if (!wal.ok) throw new JournalError(this.path, wal.reason)
    try {
      this.db = new DatabaseSync(this.path)
    } catch (e) {
      throw new JournalError(this.path, `cannot open: ${(e as Error).message}`)
    }
    try {
      this.verifyAndMigrate(existed)
      this.st = this.prepare()
    } catch (e) {
      this.close()
      if (e instanceof JournalError) throw e
      throw new JournalError(this.path, (e as Error).message)
    }
  }

  /**
   * WAL mode (commits made durable by commit()/durable(), see the class comment), then quick_check (the
   * structure of every page; a few ms for the bounded history) and the layout version.
   */
  private verifyAndMigrate(existed: boolean): void {
    const db = this.db
    db.exec('PRAGMA busy_timeout = 2000')
    const mode = (db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string }).journal_mode
    if (mode !== 'wal') throw new JournalError(this.path, `cannot switch to WAL mode (got ${mode})`)
    // Commits are made durable by this class (fsync of the WAL after each group commit, off the event loop).
    db.exec('PRAGMA synchronous = NORMAL')
    const check = db.prepare('PRAGMA quick_check').all() as Array<{ quick_check: string }>
    if (check.length !== 1 || check[0].quick_check !== 'ok') {
      throw new JournalError(this.path, `SQLite quick_check: ${check.slice(0, 3).map((r) => r.quick_check).join('; ')}`)
    }
    const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tasks'").get() !== undefined
    if (version > JOURNAL_VERSION) throw new JournalError(this.path, `layout version ${version} is newer than this agent's ${JOURNAL_VERSION}`)
    if (existed && !hasTable && version !== 0) throw new JournalError(this.path, `layout version ${version} but no tasks table`)
    const columns = hasTable ? (db.prepare('PRAGMA table_info(tasks)').all() as Array<{ name: string }>).map((c) => c.name) : []
    const missing = (name: string, decl: string) => (hasTable && !columns.includes(name) ? `ALTER TABLE tasks ADD COLUMN ${name} ${decl};` : '')
    db.exec(`
      BEGIN;
      CREATE TABLE IF NOT EXISTS tasks (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        outcome TEXT,
        terminal INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL,
        node TEXT,
        term INTEGER,
        origin TEXT NOT NULL,
        async INTEGER NOT NULL,
        deadline INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        finished_at INTEGER,
        interruptions INTEGER NOT NULL DEFAULT 0,
        pgid INTEGER,
        pg_start INTEGER,
        boot_id TEXT
      );
      ${missing('interruptions', 'INTEGER NOT NULL DEFAULT 0')}
      ${missing('pgid', 'INTEGER')}
      ${missing('pg_start', 'INTEGER')}
      ${missing('boot_id', 'TEXT')}
      CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (finished_at);
      CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state);
      CREATE INDEX IF NOT EXISTS tasks_updated ON tasks (updated_at);
      PRAGMA user_version = ${JOURNAL_VERSION};
      COMMIT;
    `)
  }

  private prepare(): Record<StatementName, StatementSync> {
    const db = this.db
    return {
      get: db.prepare('SELECT * FROM tasks WHERE id = ?'),
      insert: db.prepare(
        `INSERT INTO tasks (id, type, payload, state, outcome, terminal, attempt, node, term, origin, async, deadline, created_at, updated_at, finished_at, interruptions)
         VALUES (?, ?, ?, ?, NULL, 0, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)
         ON CONFLICT(id) DO UPDATE SET type = excluded.type, payload = excluded.payload, state = excluded.state, outcome = NULL,
           terminal = 0, attempt = excluded.attempt, node = excluded.node, term = excluded.term, origin = excluded.origin,
           async = excluded.async, deadline = excluded.deadline, updated_at = excluded.updated_at, finished_at = NULL, interruptions = 0,
           pgid = NULL, pg_start = NULL, boot_id = NULL`,
      ),
      progress: db.prepare('UPDATE tasks SET state = ?, attempt = ?, node = ?, term = ?, updated_at = ? WHERE id = ?'),
      finish: db.prepare('UPDATE tasks SET state = ?, outcome = ?, terminal = ?, attempt = ?, node = ?, term = ?, updated_at = ?, finished_at = ? WHERE id = ?'),
      requeue: db.prepare("UPDATE tasks SET state = 'queued', attempt = ?, node = NULL, term = NULL, interruptions = interruptions + ?, updated_at = ? WHERE id = ?"),
      recent: db.prepare('SELECT * FROM tasks ORDER BY updated_at DESC, rowid DESC LIMIT ?'),
      unfinished: db.prepare(`SELECT * FROM tasks WHERE state IN (${UNFINISHED.map(() => '?').join(', ')}) ORDER BY created_at, rowid`),
      prune: db.prepare(
        'DELETE FROM tasks WHERE finished_at IS NOT NULL AND id NOT IN (SELECT id FROM tasks WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?)',
      ),
      count: db.prepare('SELECT state, COUNT(*) AS n FROM tasks GROUP BY state'),
      group: db.prepare('UPDATE tasks SET pgid = ?, pg_start = ?, boot_id = ? WHERE id = ?'),
    }
  }

  /** Run a write inside this turn's transaction, opening it (and scheduling its commit) when needed. */
  private write(f: () => void): void {
    if (!this.inTransaction) {
      this.db.exec('BEGIN IMMEDIATE')
      this.inTransaction = true
      setImmediate(() => this.commit())
    }
    f()
  }

  /** Commit this turn's transaction, start the fsync that makes it durable, and release its waiters after it. */
  commit(): void {
    if (!this.inTransaction) return
    const waiters = this.waiters
    this.waiters = []
    this.inTransaction = false
    let synced: Promise<void>
    try {
      this.db.exec('COMMIT')
      synced = this.syncWal()
    } catch (e) {
      try {
        this.db.exec('ROLLBACK')
      } catch {
        // nothing open any more
      }
      synced = Promise.reject(e as Error)
    }
    this.lastSync = synced.catch(() => {})
    synced.then(
      () => {
        for (const w of waiters) w.resolve()
      },
      (e: Error) => {
        for (const w of waiters) w.reject(e)
      },
    )
  }

  /** fsync of the WAL (and, once, of the data dir, which holds the WAL's directory entry) in the thread pool. */
  private async syncWal(): Promise<void> {
    if (!this.wal) {
      this.wal = open(`${this.path}-wal`, 'r+')
      this.wal.catch(() => (this.wal = null)) // try again on the next commit
      const fh = await this.wal
      await fh.sync()
      const dir = await open(dirname(this.path), 'r')
      await dir.sync().finally(() => dir.close())
      return
    }
    await (await this.wal).sync()
  }

  /** Resolves once every write made so far is on disk (committed and fsynced); rejects when that failed. */
  durable(): Promise<void> {
    if (!this.inTransaction) return this.lastSync
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
  }

  get(id: string): StoredRecord | undefined {
    const row = this.st.get.get(id) as Row | undefined
    return row ? toRecord(row) : undefined
  }

  /** Write a new (or re-submitted, not terminal) task before anything else happens to it. Durable on return. */
  accept(r: { id: string; type: string; payload: unknown; state: TaskState; attempt: number; node: string | null; term: number | null; origin: 'submit' | 'remote'; async: boolean; deadline: number }): void {
    const now = Date.now()
    this.write(() => this.st.insert.run(r.id, r.type, JSON.stringify(r.payload ?? null), r.state, r.attempt, r.node, r.term, r.origin, r.async ? 1 : 0, r.deadline, now, now))
  }

  progress(id: string, state: TaskState, attempt: number, node: string | null, term: number | null): void {
    this.write(() => this.st.progress.run(state, attempt, node, term ?? null, Date.now(), id))
  }

  /** The process group a command handler of this task runs in (null: none any more). */
  recordGroup(id: string, group: StoredRecord['group']): void {
    this.write(() => this.st.group.run(group?.pgid ?? null, group?.leaderStart ?? null, group?.bootId ?? null, id))
  }

  /** Queue a task again after a restart as `attempt`; `interrupted` counts a run that the stop or crash cut short. */
  requeue(id: string, attempt: number, interrupted: boolean): void {
    this.write(() => this.st.requeue.run(attempt, interrupted ? 1 : 0, Date.now(), id))
  }

  finish(id: string, outcome: TaskOutcome, terminal: boolean): void {
    const now = Date.now()
    const failed = 'error' in outcome
    this.write(() =>
      this.st.finish.run(failed ? 'failed' : 'succeeded', JSON.stringify(outcome), terminal ? 1 : 0, outcome.attempt ?? 0, outcome.node ?? null, outcome.term ?? null, now, now, id),
    )
    if (++this.finishesSincePrune >= 200) {
      this.finishesSincePrune = 0
      this.prune()
    }
  }

  prune(): void {
    this.write(() => this.st.prune.run(this.keep))
  }

  recent(limit: number): StoredRecord[] {
    return (this.st.recent.all(limit) as unknown as Row[]).map(toRecord)
  }

  unfinished(): StoredRecord[] {
    return (this.st.unfinished.all(...UNFINISHED) as unknown as Row[]).map(toRecord)
  }

  counts(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const r of this.st.count.all() as unknown as Array<{ state: string; n: number }>) out[r.state] = r.n
    return out
  }

  close(): void {
    try {
      this.commit()
      // Synchronously, so nothing committed is left unsynced when the process exits right after.
      try {
        const fd = openSync(`${this.path}-wal`, 'r+')
        fsyncSync(fd)
        closeSync(fd)
      } catch {
        // no WAL: nothing to sync
      }
      void this.wal?.then((fh) => fh.close()).catch(() => {})
      this.db.close()
    } catch {
      // already closed
    }
  }
}

function toRecord(r: Row): StoredRecord {
  return {
    id: r.id,
    type: r.type,
    payload: JSON.parse(r.payload),
    state: r.state as TaskState,
    outcome: r.outcome ? (JSON.parse(r.outcome) as TaskOutcome) : null,
    terminal: r.terminal === 1,
    attempt: r.attempt,
    node: r.node,
    term: r.term,
    origin: r.origin as 'submit' | 'remote',
    async: r.async === 1,
    deadline: r.deadline,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    interruptions: r.interruptions ?? 0,
    group: r.pgid === null || r.pgid === undefined ? null : { pgid: r.pgid, leaderStart: r.pg_start ?? null, bootId: r.boot_id ?? null },
  }
}
