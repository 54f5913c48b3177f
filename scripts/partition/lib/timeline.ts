// What a scenario observed, in order: faults it injected, and every change an agent reported through its API.
import { appendFileSync } from 'node:fs'

export interface TimelineEvent {
  t: number // ms since the scenario's t0
  at: string // ISO wall clock
  kind: string // fault | heal | master | member | quorum | api | measure | violation | note | phase
  node?: string // the agent that reported it (observer), or the target of a fault
  [k: string]: unknown
}

export class Timeline {
  readonly t0 = Date.now()
  readonly events: TimelineEvent[] = []
  constructor(private file: string | null, private echo: ((line: string) => void) | null = null) {}

  add(kind: string, fields: Record<string, unknown> = {}): TimelineEvent {
    const now = Date.now()
    const e: TimelineEvent = { t: now - this.t0, at: new Date(now).toISOString(), kind, ...fields }
    this.events.push(e)
    const line = JSON.stringify(e)
    if (this.file) appendFileSync(this.file, line + '\n')
    this.echo?.(line)
    return e
  }
  now(): number { return Date.now() - this.t0 }
}

export function describe(e: TimelineEvent): string {
  const skip = new Set(['t', 'at', 'kind', 'node'])
  return Object.entries(e).filter(([k]) => !skip.has(k)).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ')
}
