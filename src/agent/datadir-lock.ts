// One agent process per data dir. The data dir holds the node key (the peer id), the task journal and the
// state file: two processes on it would be one peer id twice and two writers of one journal. The lock is a
// file created with O_EXCL holding the owner's pid, host, boot id and process start time; a lock whose owner
// is gone (no such pid, another boot, a reused pid with another start time) is stale and taken over.
// (A copy of the data dir on another host is the same peer id on the network: the core detects that one.)
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'

export const LOCK_FILE = 'agent.lock'
/** A lock file still empty this long after its creation is an owner that died before writing it. */
const UNWRITTEN_GRACE_MS = 2_000

export class DataDirLockError extends Error {
  override name = 'DataDirLockError'
}

interface Holder {
  pid: number
  host: string
  bootId: string | null
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22), Linux only. */
  startTicks: number | null
  since: string
}

/** This boot of the host (Linux), or null. */
export function readBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return null
  }
}

/** Start time of a process in clock ticks since boot (Linux), or null: with the boot id, it names one process. */
export function startTicksOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may contain spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[19])
  } catch {
    return null
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Whether the process that wrote `h` may still run (false: the lock is stale). */
function holderAlive(h: Holder): boolean {
  if (h.host !== hostname()) return true // cannot look at another host's processes: assume it runs
  const boot = readBootId()
  if (h.bootId && boot && h.bootId !== boot) return false
  if (!pidAlive(h.pid)) return false
  if (h.startTicks !== null) {
    const now = startTicksOf(h.pid)
    if (now !== null && now !== h.startTicks) return false // the pid was reused by another process
  }
  return true
}

export class DataDirLock {
  private released = false
  private readonly onExit = () => this.release()

  private constructor(
    readonly path: string,
    private readonly content: string,
  ) {
    process.once('exit', this.onExit)
  }

  /**
   * Take the lock of `dataDir` or throw DataDirLockError naming the data dir and the holder.
   * Stale locks (owner gone) are replaced; `onStale` hears about it (for a log line).
   */
  static acquire(dataDir: string, onStale?: (holder: string) => void): DataDirLock {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    const path = join(dataDir, LOCK_FILE)
    const me: Holder = { pid: process.pid, host: hostname(), bootId: readBootId(), startTicks: startTicksOf(process.pid), since: new Date().toISOString() }
    const content = JSON.stringify(me) + '\n'
    for (let tries = 0; tries < 3; tries++) {
      try {
        const fd = openSync(path, 'wx', 0o600)
        try {
          writeSync(fd, content)
          fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
        return new DataDirLock(path, content)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new DataDirLockError(`cannot create lock file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
        }
      }
      let text: string
      let ageMs: number
      try {
        text = readFileSync(path, 'utf8')
        ageMs = Date.now() - statSync(path).mtimeMs
      } catch {
        continue // removed in between: try again
      }
      let holder: Holder | null = null
      try {
        holder = JSON.parse(text) as Holder
        if (!Number.isInteger(holder.pid)) holder = null
      } catch {
        holder = null
      }
      if (holder === null && ageMs < UNWRITTEN_GRACE_MS) {
        throw new DataDirLockError(`data dir ${dataDir} is being taken by another conclave agent that is starting (lock file ${path}); give each agent its own --data-dir`)
      }
      if (holder !== null && holderAlive(holder)) {
        const where = holder.host === hostname() ? `pid ${holder.pid}` : `pid ${holder.pid} on host ${holder.host}`
        throw new DataDirLockError(
          `data dir ${dataDir} is in use by another conclave agent (${where}, since ${holder.since}): give this agent another --data-dir ` +
            `(a copy of a data dir carries the same node key, so regenerate it: start from an empty data dir)`,
        )
      }
      // Stale. Remove it only if it is still the file judged stale (another starter may have replaced it).
      try {
        if (readFileSync(path, 'utf8') === text) unlinkSync(path)
      } catch {
        // gone already
      }
      onStale?.(holder ? `pid ${holder.pid} since ${holder.since}` : 'an unwritten lock file')
    }
    throw new DataDirLockError(`cannot take the lock of data dir ${dataDir} (${path} keeps changing): is another agent starting on it?`)
  }

  /** Remove the lock if it is still ours. Idempotent; also runs at process exit. */
  release(): void {
    if (this.released) return
    this.released = true
    process.off('exit', this.onExit)
    try {
      if (readFileSync(this.path, 'utf8') === this.content) unlinkSync(this.path)
    } catch {
      // already gone
    }
  }
}
