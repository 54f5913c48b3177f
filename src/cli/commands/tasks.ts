// `conclave tasks`: running and recent tasks of an agent (GET /v1/tasks).
import type { Command } from 'commander'
import { callApi, DEFAULT_API } from '../client.ts'
import { CliError } from '../errors.ts'
import { age, table } from '../table.ts'

interface TaskView {
  id: string
  type: string
  state: string
  attempt: number
  node: string | null
  term: number | null
  origin: string
  updatedAt: string
  outcome: { error?: string; detail?: string; result?: unknown } | null
}

function summary(t: TaskView): string {
  if (!t.outcome) return ''
  if (t.outcome.error) return `${t.outcome.error}: ${t.outcome.detail ?? ''}`
  const r = JSON.stringify(t.outcome.result)
  return r.length > 60 ? `${r.slice(0, 57)}...` : r
}

export function tasksTable(list: { running: TaskView[]; recent: TaskView[] }): string {
  const rows = [...list.running, ...list.recent].map((t) => [
    t.id,
    t.type,
    t.state,
    String(t.attempt),
    t.node ?? '-',
    t.term === null ? '-' : String(t.term),
    t.origin,
    age(t.updatedAt),
    summary(t),
  ])
  if (rows.length === 0) return 'no tasks'
  return table(['ID', 'TYPE', 'STATE', 'ATTEMPT', 'NODE', 'TERM', 'ORIGIN', 'UPDATED', 'OUTCOME'], rows)
}

export function register(program: Command): void {
  program
    .command('tasks')
    .description('list running and recent tasks of an agent (submitted to it or run by it)')
    .option('--limit <n>', 'how many recent tasks', '50')
    .option('--json', 'print the JSON of GET /v1/tasks')
    .option('--api <host:port>', 'API address of the agent', DEFAULT_API)
    .action(async (opts: { api: string; json?: boolean; limit: string }) => {
      const limit = Number(opts.limit)
      if (!Number.isInteger(limit) || limit <= 0 || limit > 10_000) throw new CliError(`--limit: expected an integer between 1 and 10000, got "${opts.limit}"`)
      const list = await callApi<{ running: TaskView[]; recent: TaskView[] }>(opts.api, 'GET', `/v1/tasks?limit=${limit}`)
      process.stdout.write((opts.json ? JSON.stringify(list, null, 2) : tasksTable(list)) + '\n')
    })
}

interface MemberLoad {
  id: string
  state: string
  load: { running: number; queued: number; capacity: number; ageMs?: number; stale?: boolean } | null
}

/** Task load of every member (from GET /v1/plugins), for `conclave status`; empty when the agent has no task plugin. */
export async function loadSection(api: string): Promise<string> {
  let members: MemberLoad[] | undefined
  try {
    const plugins = await callApi<{ tasks?: { members?: MemberLoad[] } }>(api, 'GET', '/v1/plugins')
    members = plugins.tasks?.members
  } catch {
    return ''
  }
  if (!members || members.length === 0) return ''
  const rows = members.map((m) => [
    m.id,
    m.load ? String(m.load.running) : '-',
    m.load ? String(m.load.queued) : '-',
    m.load ? String(m.load.capacity) : '-',
    m.load?.ageMs === undefined ? (m.load ? 'self' : 'no report') : `${(m.load.ageMs / 1000).toFixed(1)}s ago${m.load.stale ? ' (stale)' : ''}`,
  ])
  return '\n\ntask load\n' + table(['ID', 'RUNNING', 'QUEUED', 'CAPACITY', 'REPORTED'], rows)
}
