// `conclave submit <type>`: submit a task through an agent's API and print its outcome as JSON
// (the object POST /v1/tasks returns). Exit 0 on success, 1 with the error object when the task failed.
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { apiOption, resolveApi, authHeaders, send } from '../client.ts'
import { CliError } from '../errors.ts'
import { collectTag } from '../tags.ts'

/** --payload '<json>' or --payload @file (JSON in the file; @- reads stdin). */
export function readPayload(arg: string | undefined): unknown {
  if (arg === undefined) return null
  let text = arg
  let from = '--payload'
  if (arg.startsWith('@')) {
    const path = arg.slice(1)
    from = `--payload ${arg}`
    try {
      text = readFileSync(path === '-' ? 0 : path, 'utf8')
    } catch (e) {
      throw new CliError(`${from}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
    }
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new CliError(`${from}: not valid JSON (${(e as Error).message})`)
  }
}

export async function postJson(hostPort: string, path: string, body: unknown, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  let res: Response
  try {
    res = await send(hostPort, path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders() },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (e) {
    if ((e as Error).name === 'TimeoutError') throw new CliError(`no answer from the agent API at ${hostPort} within ${timeoutMs} ms`, 1)
    const cause = (e as { cause?: { code?: string; message?: string } }).cause
    throw new CliError(`cannot reach the agent API at ${hostPort} (${cause?.code ?? cause?.message ?? (e as Error).message}); is an agent running there? (see --api)`, 1)
  }
  const text = await res.text()
  try {
    return { status: res.status, body: JSON.parse(text) }
  } catch {
    throw new CliError(`the agent API at ${hostPort} answered ${res.status} with something that is not JSON`, 1)
  }
}

export function register(program: Command): void {
  program
    .command('submit')
    .description('submit a task to an agent; masterOnly types run on the master, others on that agent (or where --where says)')
    .argument('<type>', 'task type (declared in the agent config, tasks section)')
    .option('--payload <json|@file>', 'JSON payload, or @file to read it from a file (@- for stdin)')
    .option('--id <task-id>', 'task id; resubmitting an id returns the stored outcome instead of running again')
    .option('--timeout <ms>', 'deadline for the whole submit, failover included (default: type timeout + 30 s)')
    .option('--where <key=value>', 'run on one live member with this tag (repeatable: all must match), chosen by load; not for masterOnly types', collectTag)
    .option('--async', 'return {"id"} at once (the task is journaled); see `conclave tasks`, GET /v1/tasks/:id')
    .addOption(apiOption())
    .option('--json', 'print the outcome as JSON (the default: the outcome object is the output)')
    .action(async (type: string, opts: { payload?: string; id?: string; timeout?: string; async?: boolean; api?: string; json?: boolean; where?: Record<string, string> }) => {
      const api = resolveApi(opts.api)
      const payload = readPayload(opts.payload)
      let timeoutMs: number | undefined
      if (opts.timeout !== undefined) {
        timeoutMs = Number(opts.timeout)
        if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new CliError(`--timeout: expected a positive integer of milliseconds, got "${opts.timeout}"`)
      }
      const body = { type, payload, ...(opts.id !== undefined ? { id: opts.id } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(opts.where ? { where: opts.where } : {}) }
      // The agent answers by the deadline; give the HTTP call a margin on top (default deadline: up to 24 h).
      const httpTimeout = (timeoutMs ?? 24 * 3600_000) + 15_000
      const res = await postJson(api, `/v1/tasks${opts.async ? '?async=1' : ''}`, body, httpTimeout)
      process.stdout.write(JSON.stringify(res.body, null, 2) + '\n')
      if (res.status >= 300) process.exitCode = 1
    })
}
