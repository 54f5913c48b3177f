// The HTTP API: JSON status, member operations, Prometheus metrics and a Server-Sent Events stream of core events.
import Fastify, { type FastifyInstance } from 'fastify'
import type { Agent, AgentPlugin } from '../agent/types.ts'
import type { CoreEvent, Member } from '../core/types.ts'
import { registerHttpLimits } from './limits.ts'

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

export function buildApi(agent: Agent, plugins: AgentPlugin[]): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true })
  const limits = registerHttpLimits(app, agent.metrics)

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

  app.get('/metrics', async (_req, reply) => {
    const text = await agent.metrics.metrics()
    return reply.type(agent.metrics.contentType).send(text)
  })

  app.get('/v1/plugins', async () => Object.fromEntries(plugins.map((p) => [p.name, p.status?.() ?? {}])))

  // Server-Sent Events: one `data:` line of JSON per core event. Used by tests and the partition harness.
  app.get('/v1/events', (req, reply) => {
    // Bounded in clients and in unread bytes per client (src/api/limits.ts).
    const sse = limits.openSse(req, reply)
    if (!sse) return reply
    sse.write(`: conclave ${agent.id}\n\n`)
    const onEvent = (e: CoreEvent) => sse.write(`event: ${e.type}\ndata: ${JSON.stringify(eventToJson(e))}\n\n`)
    const keepAlive = setInterval(() => sse.write(': keep-alive\n\n'), 15_000)
    agent.events.on('event', onEvent)
    sse.whenClosed(() => {
      clearInterval(keepAlive)
      agent.events.off('event', onEvent)
    })
  })

  for (const p of plugins) p.routes?.(app)
  return app
}

export async function listenApi(app: FastifyInstance, hostPort: string): Promise<void> {
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
