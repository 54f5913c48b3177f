// `conclave tasks [id]`: running and recent tasks of an agent (GET /v1/tasks), or one task (GET /v1/tasks/:id).
import type { Command } from 'commander'
import { apiOption, callApi, print, resolveApi } from '../client.ts'
import { CliError } from '../errors.ts'
import { age, table } from '../table.ts'

export interface TaskView {
  id: string
  type: string
  state: string
  attempt: number
  node: string | null
  term: number | null
  origin: string
  async?: boolean
  createdAt?: string
  updatedAt: string
  finishedAt?: string | null
  deadline?: string
  outcome: { error?: string; detail?: string; result?: unknown; durationMs?: number; exitCode?: number | null; stderr?: string } | null
}

/** One task, field by field, for `conclave tasks <id>`. */
export function formatTask(t: TaskView, now = Date.now()): string {
  const when = (iso: string | null | undefined) => (iso ? `${iso} (${age(iso, now)})` : '-')
  const lines = [
    `id        ${t.id}`,
    `type      ${t.type}`,
    `state     ${t.state}`,
    `attempt   ${t.attempt}`,
    `node      ${t.node ?? '-'}`,
    `term      ${t.term ?? '-'}`,
    `origin    ${t.origin}${t.async ? ' (async)' : ''}`,
    `created   ${when(t.createdAt)}`,
    `updated   ${when(t.updatedAt)}`,
    `finished  ${when(t.finishedAt)}`,
    `deadline  ${t.deadline ?? '-'}`,
  ]
  const o = t.outcome
  if (o) {
    if (o.error) lines.push(`error     ${o.error}: ${o.detail ?? ''}`)
    else lines.push(`result    ${JSON.stringify(o.result)}`)
    if (o.durationMs !== undefined) lines.push(`duration  ${o.durationMs} ms`)
    if (o.exitCode !== undefined && o.exitCode !== null) lines.push(`exit      ${o.exitCode}`)
    if (o.stderr) lines.push(`stderr    ${o.stderr.trimEnd().split('\n').join('\n          ')}`)
  }
  return lines.join('\n')
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
    .description('list running and recent tasks of an agent (submitted to it or run by it), or show one task by id')
    .argument('[id]', 'task id: show this task (state, node, term, outcome); exit 1 when the agent does not know it')
    .option('--limit <n>', 'how many recent tasks', '50')
    .option('--json', 'print the JSON of GET /v1/tasks (or GET /v1/tasks/<id>)')
    .addOption(apiOption())
    .action(async (id: string | undefined, opts: { api?: string; json?: boolean; limit: string }) => {
      const api = resolveApi(opts.api)
      if (id !== undefined) {
        const t = await callApi<TaskView>(api, 'GET', `/v1/tasks/${encodeURIComponent(id)}`)
        return print(opts.json, t, () => formatTask(t))
      }
      const limit = Number(opts.limit)
      if (!Number.isInteger(limit) || limit <= 0 || limit > 10_000) throw new CliError(`--limit: expected an integer between 1 and 10000, got "${opts.limit}"`)
      const list = await callApi<{ running: TaskView[]; recent: TaskView[] }>(api, 'GET', `/v1/tasks?limit=${limit}`)
      print(opts.json, list, () => tasksTable(list))
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
  // Members that left or died run nothing: their last report would only mislead.
  members = members?.filter((m) => m.state === 'alive' || m.state === 'suspect')
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
