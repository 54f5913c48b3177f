// Who may change an agent through its HTTP API.
//
//   A1  Reads (GET, HEAD) are open to whoever reaches the API: the dashboard and `conclave status` need nothing.
//   A2  Every other method (POST: leave, remove, recover, submit, cancel) needs either the API token
//       (`Authorization: Bearer <token>`) or, when the agent has no token, the header `X-Conclave-Client`.
//       A web page on another origin cannot send a custom header without a CORS preflight, which this API never
//       answers, so a cross-site POST from a browser on the host is refused (the attack of issue 9).
//   A3  With a token configured, the header is not enough: the token is required.
//   A4  An API on a non-loopback address needs a token (checked at start, see apiExposureProblem).
import { timingSafeEqual } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import type { FastifyInstance } from 'fastify'

export const CLIENT_HEADER = 'x-conclave-client'
/** Shortest token accepted: 16 bytes of hex or base64 is 22+ characters; below that a token is guessable. */
export const MIN_TOKEN_LENGTH = 16

export class ApiTokenError extends Error {
  override name = 'ConfigError'
}

/** Read the API token (first non-empty line); refuses files other users can read and tokens that are too short. */
export function readTokenFile(path: string): string {
  let text: string
  try {
    const st = statSync(path)
    if ((st.mode & 0o077) !== 0) throw new ApiTokenError(`API token file ${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 ${path}`)
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if (e instanceof ApiTokenError) throw e
    throw new ApiTokenError(`cannot read API token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
  const token = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '') ?? ''
  if (token.length < MIN_TOKEN_LENGTH) throw new ApiTokenError(`API token in ${path} is ${token.length} characters; use at least ${MIN_TOKEN_LENGTH} (e.g. \`conclave keygen --token --out ${path}\`)`)
  if (/\s/.test(token)) throw new ApiTokenError(`API token in ${path} contains whitespace`)
  return token
}

/**
 * `--api unix:/run/conclave/api.sock`: the API on a unix socket instead of TCP, for local use. The socket file is
 * made with mode 0600 (owner only; see server.ts listenApi), so file permissions decide who may talk to the agent,
 * and no other host can reach it. At most 100 bytes: the limit of a socket path is 104 (macOS) to 108 (Linux).
 */
export const UNIX_API_PREFIX = 'unix:'
export const MAX_SOCKET_PATH = 100

/** The socket path of a `unix:` API address, or null for host:port. */
export function unixSocketOf(api: string): string | null {
  return api.startsWith(UNIX_API_PREFIX) ? api.slice(UNIX_API_PREFIX.length) : null
}

/** Why a `unix:` API address is malformed, or null. */
export function unixApiProblem(api: string): string | null {
  const path = unixSocketOf(api)
  if (path === null) return null
  if (!path.startsWith('/')) return `expected unix:<absolute path>, got "${api}"`
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return `the socket path in "${api}" is longer than ${MAX_SOCKET_PATH} bytes`
  return null
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '')
  if (h === 'localhost') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) return h === '::1'
  return false
}

/** A4: why this API address may not run without a token, or null. */
export function apiExposureProblem(apiHostPort: string, hasToken: boolean): string | null {
  // A unix socket is reachable from this host only, by whoever the file's mode (0600) lets in.
  if (unixSocketOf(apiHostPort) !== null) return null
  const host = apiHostPort.slice(0, apiHostPort.lastIndexOf(':'))
  if (hasToken || isLoopbackHost(host)) return null
  return `the HTTP API on ${apiHostPort} is reachable from other hosts, and without a token anyone there could make this agent leave, remove members or run tasks; pass --api-token-file <file> (make one with \`conclave keygen --token --out <file>\`) or listen on 127.0.0.1`
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** A2/A3 as a Fastify hook on every route, plugin routes included. */
export function requireAuthForMutations(app: FastifyInstance, tokenOf: () => string | null, refused: (reason: 'no-credentials' | 'bad-token') => void): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD') return
    const token = tokenOf()
    const auth = req.headers.authorization
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(auth)
      if (token !== null && m && sameToken(m[1], token)) return
      refused('bad-token')
      return reply.code(401).send({ ok: false, error: 'unauthorized', detail: token === null ? 'this agent has no API token; send X-Conclave-Client instead' : 'wrong API token' })
    }
    if (token === null && req.headers[CLIENT_HEADER] !== undefined) return
    refused('no-credentials')
    return reply
      .code(401)
      .send({
        ok: false,
        error: 'unauthorized',
        detail: token === null ? `changes need the header ${CLIENT_HEADER} (the conclave CLI sends it)` : 'changes need the API token: Authorization: Bearer <token> (CLI: --api-token, CONCLAVE_API_TOKEN or apiTokenFile)',
      })
  })
}
