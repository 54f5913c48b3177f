// A small client for the agent's HTTP API, used by every command but `agent`.
// The address comes from --api, else $CONCLAVE_API, else 127.0.0.1:7947 (the agent's default, which also follows
// $CONCLAVE_API), so one exported variable points both the agent and the CLI at the same place.
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { Option } from 'commander'
import { CLIENT_HEADER, unixApiProblem, unixSocketOf } from '../security/api-auth.ts'
import { CliError, EXIT } from './errors.ts'

// Not an ES import: importing node:http builds its ES module facade, which reads every export, and reading one of
// them loads undici. That was ~45 ms of every `conclave status` (measured with --cpu-prof).
const { request } = process.getBuiltinModule('node:http')

export const DEFAULT_API = '127.0.0.1:7947'
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/

/** The --api option every client command takes (no commander default: the env var must be able to fill in). */
export function apiOption(what = 'API address of the agent'): Option {
  return new Option('--api <host:port>', `${what}, or unix:<path> for an agent's API socket (default: $CONCLAVE_API, else ${DEFAULT_API})`)
}

/** --api, else $CONCLAVE_API, else the default; a malformed value is a usage error naming where it came from. */
export function resolveApi(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const [value, from] = flag !== undefined ? [flag, '--api'] : env.CONCLAVE_API ? [env.CONCLAVE_API, 'CONCLAVE_API'] : [DEFAULT_API, 'default']
  if (unixSocketOf(value) !== null) {
    const problem = unixApiProblem(value)
    if (problem) throw new CliError(`${from}: ${problem}`, EXIT.usage)
    return value
  }
  if (!HOST_PORT.test(value) || Number(value.slice(value.lastIndexOf(':') + 1)) > 65535) throw new CliError(`${from}: expected host:port, got "${value}"`, EXIT.usage)
  return value
}

/**
 * fetch(), or for `unix:<path>` the same request over the agent's API socket (fetch has no unix sockets): a Response
 * either way, its body streamed, its errors shaped like fetch's (a TypeError whose cause has the code).
 */
export function send(api: string, path: string, init: { method?: string; headers: Record<string, string>; body?: string; signal: AbortSignal }): Promise<Response> {
  const socketPath = unixSocketOf(api)
  if (socketPath === null) return fetch(apiBase(api) + path, init)
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: init.method ?? 'GET', headers: { host: 'localhost', ...init.headers }, signal: init.signal }, (res) => {
      const headers = new Headers()
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v)
      const status = res.statusCode ?? 500
      const body = status === 204 || status === 304 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>)
      resolve(new Response(body, { status, headers }))
    })
    // As fetch does: the signal's reason when it aborted (a TimeoutError), else a TypeError with the cause.
    req.once('error', (e) => reject(init.signal.aborted ? init.signal.reason : new TypeError('fetch failed', { cause: e })))
    req.end(init.body)
  })
}

export function apiBase(hostPort: string): string {
  if (!HOST_PORT.test(hostPort)) throw new CliError(`--api: expected host:port, got "${hostPort}"`, EXIT.usage)
  return `http://${hostPort}`
}

/** Set by the global --token-file option (program.ts). */
let tokenFileFlag: string | undefined
export function setTokenFile(path: string | undefined): void {
  tokenFileFlag = path
}

function readToken(path: string, from: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new CliError(`${from}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, EXIT.usage)
  }
  const token = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '')
  if (!token) throw new CliError(`${from}: ${path} holds no token`, EXIT.usage)
  return token
}

/**
 * The API token, if any: --token-file, else $CONCLAVE_API_TOKEN, else $CONCLAVE_API_TOKEN_FILE, else the
 * apiTokenFile of the agent config named by $CONCLAVE_CONFIG. No token: the agent must have none either.
 */
export function resolveToken(env: NodeJS.ProcessEnv = process.env): string | null {
  if (tokenFileFlag !== undefined) return readToken(tokenFileFlag, '--token-file')
  if (env.CONCLAVE_API_TOKEN) return env.CONCLAVE_API_TOKEN.trim()
  if (env.CONCLAVE_API_TOKEN_FILE) return readToken(env.CONCLAVE_API_TOKEN_FILE, 'CONCLAVE_API_TOKEN_FILE')
  if (env.CONCLAVE_CONFIG) {
    let file: { apiTokenFile?: unknown }
    try {
      file = JSON.parse(readFileSync(env.CONCLAVE_CONFIG, 'utf8')) as { apiTokenFile?: unknown }
    } catch (e) {
      throw new CliError(`CONCLAVE_CONFIG: cannot read ${env.CONCLAVE_CONFIG} as JSON (${(e as Error).message})`, EXIT.usage)
    }
    if (typeof file.apiTokenFile === 'string') return readToken(file.apiTokenFile, `apiTokenFile in ${env.CONCLAVE_CONFIG}`)
  }
  return null
}

/**
 * Headers of every CLI request: the client header (a cross-origin web page cannot send it without a preflight, so
 * the agent takes it as proof of a non-browser client) and the token when there is one.
 */
export function authHeaders(): Record<string, string> {
  const token = resolveToken()
  return { [CLIENT_HEADER]: 'cli', ...(token ? { authorization: `Bearer ${token}` } : {}) }
}

function unreachable(hostPort: string, e: unknown): CliError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause
  const why = cause?.code ?? cause?.message ?? (e as Error).message
  return new CliError(`cannot reach the agent API at ${hostPort} (${why}); is an agent running there? (see --api, CONCLAVE_API)`, EXIT.failed)
}

export class ApiStatusError extends CliError {
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message, EXIT.failed)
  }
}

export async function callApi<T>(hostPort: string, method: 'GET' | 'POST', path: string): Promise<T> {
  let res: Response
  try {
    res = await send(hostPort, path, { method, headers: authHeaders(), signal: AbortSignal.timeout(10_000) })
  } catch (e) {
    throw unreachable(hostPort, e)
  }
  const text = await res.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new CliError(`the agent API at ${hostPort} answered ${res.status} with something that is not JSON`, EXIT.failed)
  }
  if (!res.ok) {
    const b = body as { error?: string; detail?: string; message?: string }
    const error = b.detail ? `${b.error ? `${b.error}: ` : ''}${b.detail}` : (b.error ?? b.message ?? `HTTP ${res.status}`)
    throw new ApiStatusError(error, res.status, body)
  }
  return body as T
}

/** GET that answers null when the agent has no such route (an older agent), instead of failing. */
export async function callApiOptional<T>(hostPort: string, path: string): Promise<T | null> {
  try {
    return await callApi<T>(hostPort, 'GET', path)
  } catch (e) {
    if (e instanceof ApiStatusError && e.status === 404) return null
    throw e
  }
}

/**
 * Follow a Server-Sent Events stream until it ends or `signal` aborts; `onEvent` gets each event's name and parsed data.
 * Resolves 'ended' when the agent closed the stream, 'aborted' when the caller stopped.
 */
export async function followSse(hostPort: string, path: string, onEvent: (event: string, data: unknown) => void, signal: AbortSignal): Promise<'ended' | 'aborted'> {
  let res: Response
  try {
    res = await send(hostPort, path, { signal, headers: { accept: 'text/event-stream', ...authHeaders() } })
  } catch (e) {
    if (signal.aborted) return 'aborted'
    throw unreachable(hostPort, e)
  }
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => '')
    let detail = text
    try {
      const b = JSON.parse(text) as { detail?: string; error?: string }
      detail = b.detail ?? b.error ?? text
    } catch {
      // not JSON: show the text
    }
    throw new ApiStatusError(`${path}: HTTP ${res.status}${detail ? `: ${detail}` : ''}`, res.status, text)
  }
  const decoder = new TextDecoder()
  let buffer = ''
  try {
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        let event = 'message'
        const data: string[] = []
        for (const line of frame.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim()
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart())
        }
        if (data.length === 0) continue
        try {
          onEvent(event, JSON.parse(data.join('\n')))
        } catch {
          // A frame that is not JSON is not ours to show.
        }
      }
    }
  } catch {
    // An agent that stops closes its connections hard (undici reports "terminated"): that is the end of the stream.
    if (signal.aborted) return 'aborted'
  }
  return signal.aborted ? 'aborted' : 'ended'
}

/** Print JSON or text on stdout, one trailing newline. */
export function print(json: boolean | undefined, value: unknown, text: () => string): void {
  process.stdout.write((json ? JSON.stringify(value, null, 2) : text()) + '\n')
}
