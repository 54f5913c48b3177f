// Small persistent agent state in <data-dir>/state.json: the highest term seen, so terms never go back after a restart.
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'

interface PersistedState {
  maxTerm: number
}

export class StateFile {
  private readonly path: string
  private saved: number

  constructor(dataDir: string, private readonly log: Logger) {
    this.path = join(dataDir, 'state.json')
    this.saved = this.read().maxTerm
  }

  get maxTerm(): number {
    return this.saved
  }

  private read(): PersistedState {
    let text: string
    try {
      text = readFileSync(this.path, 'utf8')
    } catch {
      return { maxTerm: 0 }
    }
    try {
      const v = JSON.parse(text) as Partial<PersistedState>
      if (typeof v.maxTerm === 'number' && Number.isSafeInteger(v.maxTerm) && v.maxTerm >= 0) return { maxTerm: v.maxTerm }
    } catch {
      // fall through
    }
    this.log.warn({ path: this.path }, 'ignoring a corrupt state file')
    return { maxTerm: 0 }
  }

  /** Record a higher term (no-op when not higher). Written to a temp file and renamed, so a crash never truncates it. */
  saveMaxTerm(term: number): void {
    if (term <= this.saved) return
    const tmp = `${this.path}.tmp-${process.pid}`
    try {
      writeFileSync(tmp, JSON.stringify({ maxTerm: term }) + '\n', { mode: 0o600 })
      renameSync(tmp, this.path)
      this.saved = term
    } catch (e) {
      this.log.error({ err: (e as Error).message, path: this.path }, 'cannot save the highest term')
    }
  }
}
