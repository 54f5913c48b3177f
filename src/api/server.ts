// The HTTP API: JSON status, member operations, Prometheus metrics, Server-Sent Events streams of core events and
// log records, and the dashboard (static files in ./ui, served as they are: no build step, no CDN).
import { EventEmitter } from 'node:events'
import { chmodSync, lstatSync, unlinkSync } from 'node:fs'
import { connect } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { levelValues, logBusOf, type LogRecord } from '../agent/logger.ts'
import type { Agent, AgentPlugin } from '../agent/types.ts'
import type { CoreEvent, Member } from '../core/types.ts'
import { registerHttpLimits, type HttpLimits } from './limits.ts'
import { loadUiFiles, UI_TYPES } from './ui-files.ts'
import { VERSION } from '../version.ts'
import { requireAuthForMutations, unixSocketOf } from '../security/api-auth.ts'

export { VERSION } from '../version.ts'
/** SSE comment sent this often so proxies and idle timeouts keep the stream open. */
const SSE_KEEPALIVE_MS = 15_000
/** Recent core events kept for GET /v1/events/recent (the dashboard's timeline on load); probes are not kept. */
export const EVENT_HISTORY = 200

export class ApiError extends Error {
  override name = 'ApiError'
}

/** Monotonic core time (performance.now()) to wall-clock ISO time. */
export function isoFromMonotonic(ms: number): string {
  return new Date(performance.timeOrigin + ms).toISOString()
}

/** Core events carry Members with monotonic times; the API shows wall-clock times. */
export function eventToJson(e: CoreEvent): unknown {
  const member = (m: Member) => ({ ...m, since: isoFromMonotonic(m.since), aliveSince: isoFromMonotonic(m.aliveSince) })
  if (e.type === 'member-joined' || e.type === 'member-state') return { ...e, member: member(e.member), time: new Date().toISOString() }
  return { ...e, time: new Date().toISOString() }
}

export function splitHostPort(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(':')
  let host = hostPort.slice(0, i)
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  return { host, port: Number(hostPort.slice(i + 1)) }
}

/** Open a Server-Sent Events stream; `subscribe` returns its unsubscribe function. */
function sse(limits: HttpLimits, req: FastifyRequest, reply: FastifyReply, hello: string, subscribe: (send: (event: string, data: unknown) => void) => () => void): void {
  // Bounded in clients and in unread bytes per client (src/api/limits.ts).
  const client = limits.openSse(req, reply)
  if (!client) return
  client.write(`: ${hello}\n\n`)
  const unsubscribe = subscribe((event, data) => client.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`))
  const keepAlive = setInterval(() => client.write(': keep-alive\n\n'), SSE_KEEPALIVE_MS)
  client.whenClosed(() => {
    clearInterval(keepAlive)
    unsubscribe()
  })
}

/** Role of a member: the master, a voter (its lease grants count), or a member without a vote. */
export function roleOf(id: string, master: string | null, voters: string[]): 'master' | 'voter' | 'member' {
  if (id === master) return 'master'
  return voters.includes(id) ? 'voter' : 'member'
}

/** Summed values of the agent's counters (conclave_*_total), by metric name without the prefix and suffix. */
async function counters(agent: Agent): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const m of await agent.metrics.getMetricsAsJSON()) {
    if (String(m.type) !== 'counter' || !m.name.startsWith('conclave_')) continue
    out[m.name.replace(/^conclave_/, '').replace(/_total$/, '')] = m.values.reduce((sum, v) => sum + v.value, 0)
  }
  return out
}

export interface ApiAuth {
  /** The API token (null: none; mutations then need the X-Conclave-Client header). */
  token(): string | null
  refused?(reason: 'no-credentials' | 'bad-token'): void
}

export function buildApi(agent: Agent, plugins: AgentPlugin[], auth: ApiAuth = { token: () => null }): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true })
  const limits = registerHttpLimits(app, agent.metrics)
  // Mutations need the token or the CLI's header (security/api-auth.ts A1-A3); plugin routes included.
  requireAuthForMutations(app, auth.token, (reason) => auth.refused?.(reason))
  const startedAt = Date.now()
  const ui = loadUiFiles()

  // Every core event gets a sequence number, so a client that reads the history and follows the stream can drop
  // what it got twice.
  let seq = 0
  const history: Array<{ seq: number }> = []
  const feed = new EventEmitter<{ event: [string, { seq: number }] }>()
  feed.setMaxListeners(0)
  agent.events.on('event', (e) => {
    const json = { seq: ++seq, ...(eventToJson(e) as object) }
    if (e.type !== 'probe') {
      history.push(json)
      if (history.length > EVENT_HISTORY) history.shift()
    }
    feed.emit('event', e.type, json)
  })

  // The dashboard. `/` redirects so the page's relative URLs resolve under /ui/.
  app.get('/', async (_req, reply) => reply.redirect('/ui/'))
  app.get<{ Params: { file?: string } }>('/ui/:file?', async (req, reply) => {
    if (req.url === '/ui') return reply.redirect('/ui/')
    const file = req.params.file || 'index.html'
    if (!(file in UI_TYPES)) return reply.code(404).send({ error: 'not-found', detail: `no file ${file} in the dashboard` })
    return reply.type(UI_TYPES[file]!).header('cache-control', 'no-cache').send(ui[file])
  })

  // Facts about this agent that GET /v1/status does not carry: `conclave info` and the dashboard header.
  app.get('/v1/info', async () => {
    const s = agent.status() as ReturnType<Agent['status']> & { clusterId?: string | null; voters?: string[]; role?: string }
    const core = agent.coreStatus()
    const voters = s.voters ?? core.config?.voters ?? []
    return {
      version: VERSION,
      id: agent.id,
      peerId: agent.peerId,
      clusterId: s.clusterId ?? null,
      role: s.role ?? roleOf(agent.id, s.master?.id ?? null, voters),
      voters,
      configVersion: core.config?.version ?? null,
      term: core.term,
      maxTerm: core.maxTerm,
      incarnation: core.incarnation,
      healthScore: core.healthScore,
      flapping: core.flapping ?? false,
      tags: agent.config.tags ?? {},
      startedAt: new Date(startedAt).toISOString(),
      uptimeMs: Date.now() - startedAt,
      configFile: agent.configFile ?? null,
      dataDir: agent.dataDir,
      listen: agent.config.listen,
      addrs: agent.addrs(),
      api: agent.config.api,
      quorumMode: agent.config.quorum,
      logLevel: agent.config.logLevel,
      pid: process.pid,
      nodeVersion: process.version,
      counters: await counters(agent),
    }
  })

  app.get('/v1/status', async () => agent.status())
  app.get('/v1/members', async () => agent.status().members)

  app.post('/v1/leave', async (_req, reply) => {
    // Answer first: leaving stops this server.
    setImmediate(() => void agent.leave())
    return reply.code(202).send({ ok: true, id: agent.id })
  })

  app.post<{ Params: { id: string } }>('/v1/members/:id/remove', async (req, reply) => {
    const res = agent.remove(req.params.id)
    if (!res.ok) return reply.code(409).send({ ok: false, error: res.error })
    return { ok: true, id: req.params.id }
  })

  // Recovery after the majority of the voters is lost for good: `voters` names the survivors (comma-separated).
  app.post<{ Querystring: { voters?: string } }>('/v1/recover', async (req, reply) => {
    const voters = (req.query.voters ?? '').split(',').map((v) => v.trim()).filter(Boolean)
    if (voters.length === 0) return reply.code(400).send({ ok: false, error: 'voters: name the surviving voters, e.g. ?voters=node-2,node-3' })
    const res = agent.recover(voters)
    if (!res.ok) return reply.code(409).send({ ok: false, error: res.error })
    return { ok: true, voters }
  })

  app.get('/metrics', async (_req, reply) => {
    const text = await agent.metrics.metrics()
    return reply.type(agent.metrics.contentType).send(text)
  })

  app.get('/v1/plugins', async () => Object.fromEntries(plugins.map((p) => [p.name, p.status?.() ?? {}])))

  // Server-Sent Events: one `data:` line of JSON per core event. Used by the dashboard, tests and the partition harness.
  app.get('/v1/events', (req, reply) => {
    sse(limits, req, reply, `conclave ${agent.id}`, (send) => {
      const onEvent = (type: string, json: unknown) => send(type, json)
      feed.on('event', onEvent)
      return () => feed.off('event', onEvent)
    })
  })

  app.get('/v1/events/recent', async () => history)

  // Server-Sent Events of log records (`conclave monitor`): ?level=debug asks for more than stderr gets.
  app.get<{ Querystring: { level?: string } }>('/v1/logs', (req, reply) => {
    const name = req.query.level ?? 'info'
    const level = levelValues[name]
    if (level === undefined || name === 'silent') return reply.code(400).send({ error: 'bad-request', detail: `level: expected one of trace, debug, info, warn, error, fatal, got "${name}"` })
    const bus = logBusOf(agent.logger)
    if (!bus) return reply.code(503).send({ error: 'unavailable', detail: 'this agent logs to a logger without a record stream' })
    sse(limits, req, reply, `conclave ${agent.id} logs at ${name}`, (send) => bus.subscribe(level, (r: LogRecord) => send('log', r)))
  })

  for (const p of plugins) p.routes?.(app)
  return app
}

/** Whether something accepts connections on the unix socket at `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path)
    const done = (ok: boolean) => {
      c.destroy()
      resolve(ok)
    }
    c.once('connect', () => done(true))
    c.once('error', () => done(false))
    c.setTimeout(1_000, () => done(false))
  })
}

/**
 * The API on a unix socket (`--api unix:/path`): made with mode 0600 (owner only: the umask is narrowed while it is
 * created, and the mode set again after), so that file permissions decide who may drive the agent. A socket file
 * left by an agent that was killed is replaced; one that answers, or a file that is not a socket, is refused.
 */
async function listenUnix(app: FastifyInstance, api: string, path: string): Promise<void> {
  let stale = false
  try {
    const st = lstatSync(path)
    if (!st.isSocket()) throw new ApiError(`API socket ${path} exists and is not a socket; remove it or choose another path`)
    if (await socketAnswers(path)) throw new ApiError(`API address ${api} is already in use (another agent answers on it)`)
    stale = true
  } catch (e) {
    if (e instanceof ApiError) throw e
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ApiError(`cannot use API socket ${path}: ${(e as Error).message}`)
  }
  if (stale) unlinkSync(path)
  const umask = process.umask(0o177)
  try {
    await app.listen({ path })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EACCES') throw new ApiError(`no permission to create API socket ${path}`)
    if (code === 'ENOENT') throw new ApiError(`cannot create API socket ${path}: its directory does not exist`)
    throw new ApiError(`cannot start the API on ${api}: ${(e as Error).message}`)
  } finally {
    process.umask(umask)
  }
  chmodSync(path, 0o600)
}

export async function listenApi(app: FastifyInstance, hostPort: string): Promise<void> {
  const socket = unixSocketOf(hostPort)
  if (socket !== null) return listenUnix(app, hostPort, socket)
  const { host, port } = splitHostPort(hostPort)
  try {
    await app.listen({ host, port })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') throw new ApiError(`API address ${hostPort} is already in use`)
    if (code === 'EADDRNOTAVAIL') throw new ApiError(`API address ${hostPort} is not an address of this host`)
    if (code === 'EACCES') throw new ApiError(`no permission to listen on API address ${hostPort}`)
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw new ApiError(`API host in ${hostPort} cannot be resolved`)
    throw new ApiError(`cannot start the API on ${hostPort}: ${(e as Error).message}`)
  }
}
