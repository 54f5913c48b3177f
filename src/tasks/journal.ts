// The task journal: one SQLite file (node:sqlite, built into Node 24) in the data dir.
// It holds every task this agent accepted or ran, so that an async task answered with 202 survives a restart,
// and a finished task id returns its stored outcome instead of running twice on this node.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import type { TaskOutcome, TaskRecord, TaskState } from './types.ts'

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
}

export interface StoredRecord extends TaskRecord {
  /** The outcome came from a handler run (here or on the master): a retried id returns it, never runs again. */
  terminal: boolean
}

const UNFINISHED: TaskState[] = ['queued', 'forwarded', 'running']

export class Journal {
  private readonly db: DatabaseSync
  private readonly keep: number
  private finishesSincePrune = 0
  private readonly st: Record<'get' | 'insert' | 'progress' | 'finish' | 'recent' | 'unfinished' | 'prune' | 'count', StatementSync>

  constructor(dataDir: string, opts: JournalOptions = {}) {
    mkdirSync(dataDir, { recursive: true })
    this.db = new DatabaseSync(join(dataDir, 'tasks.sqlite'))
    this.keep = opts.keepFinished ?? 10_000
    // WAL + synchronous=NORMAL: a committed write survives a crash of the agent process (what 202 promises);
    // it trades the last transactions on power loss for not syncing on every task.
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 2000;
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
        finished_at INTEGER
      );
      CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (finished_at);
      CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state);
      CREATE INDEX IF NOT EXISTS tasks_updated ON tasks (updated_at);
    `)
    this.st = {
      get: this.db.prepare('SELECT * FROM tasks WHERE id = ?'),
      insert: this.db.prepare(
        `INSERT INTO tasks (id, type, payload, state, outcome, terminal, attempt, node, term, origin, async, deadline, created_at, updated_at, finished_at)
         VALUES (?, ?, ?, ?, NULL, 0, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
         ON CONFLICT(id) DO UPDATE SET type = excluded.type, payload = excluded.payload, state = excluded.state, outcome = NULL,
           terminal = 0, attempt = excluded.attempt, node = excluded.node, term = excluded.term, origin = excluded.origin,
           async = excluded.async, deadline = excluded.deadline, updated_at = excluded.updated_at, finished_at = NULL`,
      ),
      progress: this.db.prepare('UPDATE tasks SET state = ?, attempt = ?, node = ?, term = ?, updated_at = ? WHERE id = ?'),
      finish: this.db.prepare('UPDATE tasks SET state = ?, outcome = ?, terminal = ?, attempt = ?, node = ?, term = ?, updated_at = ?, finished_at = ? WHERE id = ?'),
      recent: this.db.prepare('SELECT * FROM tasks ORDER BY updated_at DESC, rowid DESC LIMIT ?'),
      unfinished: this.db.prepare(`SELECT * FROM tasks WHERE state IN (${UNFINISHED.map(() => '?').join(', ')}) ORDER BY created_at, rowid`),
      prune: this.db.prepare(
        'DELETE FROM tasks WHERE finished_at IS NOT NULL AND id NOT IN (SELECT id FROM tasks WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?)',
      ),
      count: this.db.prepare('SELECT state, COUNT(*) AS n FROM tasks GROUP BY state'),
    }
  }

  get(id: string): StoredRecord | undefined {
    const row = this.st.get.get(id) as Row | undefined
    return row ? toRecord(row) : undefined
  }

  /** Write a new (or re-submitted, not terminal) task before anything else happens to it. */
  accept(r: { id: string; type: string; payload: unknown; state: TaskState; attempt: number; node: string | null; term: number | null; origin: 'submit' | 'remote'; async: boolean; deadline: number }): void {
    const now = Date.now()
    this.st.insert.run(r.id, r.type, JSON.stringify(r.payload ?? null), r.state, r.attempt, r.node, r.term, r.origin, r.async ? 1 : 0, r.deadline, now, now)
  }

  progress(id: string, state: TaskState, attempt: number, node: string | null, term: number | null): void {
    this.st.progress.run(state, attempt, node, term ?? null, Date.now(), id)
  }

  finish(id: string, outcome: TaskOutcome, terminal: boolean): void {
    const now = Date.now()
    const failed = 'error' in outcome
    this.st.finish.run(
      failed ? 'failed' : 'succeeded',
      JSON.stringify(outcome),
      terminal ? 1 : 0,
      outcome.attempt ?? 0,
      outcome.node ?? null,
      outcome.term ?? null,
      now,
      now,
      id,
    )
    if (++this.finishesSincePrune >= 200) {
      this.finishesSincePrune = 0
      this.prune()
    }
  }

  prune(): void {
    this.st.prune.run(this.keep)
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
  }
}
