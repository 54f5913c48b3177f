// A small client for the agent's HTTP API, used by status, members, leave and remove.
import { CliError } from './errors.ts'

export const DEFAULT_API = '127.0.0.1:7947'

export function apiBase(hostPort: string): string {
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(hostPort)) throw new CliError(`--api: expected host:port, got "${hostPort}"`)
  return `http://${hostPort}`
}

export async function callApi<T>(hostPort: string, method: 'GET' | 'POST', path: string): Promise<T> {
  const url = apiBase(hostPort) + path
  let res: Response
  try {
    res = await fetch(url, { method, signal: AbortSignal.timeout(10_000) })
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause
    const why = cause?.code ?? cause?.message ?? (e as Error).message
    throw new CliError(`cannot reach the agent API at ${hostPort} (${why}); is an agent running there? (see --api)`, 1)
  }
  const text = await res.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new CliError(`the agent API at ${hostPort} answered ${res.status} with something that is not JSON`, 1)
  }
  if (!res.ok) {
    const error = (body as { error?: string; message?: string }).error ?? (body as { message?: string }).message ?? `HTTP ${res.status}`
    throw new CliError(error, 1)
  }
  return body as T
}
