// The task subsystem as an agent plugin: validates the `tasks` and `on` config sections, starts the service,
// and serves the HTTP routes:
//   POST /v1/tasks {type, payload, id?, timeoutMs?, where?}   wait for the outcome (200, or the error's status);
//                                                    where: {"role": "web"} runs it on one live member with those tags
//   POST /v1/tasks?async=1                            202 {id} once journaled
//   GET  /v1/tasks/:id                                state and outcome
//   GET  /v1/tasks[?limit=n]                          running and recent tasks
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Agent, AgentPlugin } from '../agent/types.ts'
import type { AgentConfig } from '../config/schema.ts'
import { parseOnSection, parseTasksSection } from './config.ts'
import { TaskService } from './service.ts'
import { isFailure, taskErrors, type TaskFailure, type TaskOutcome } from './types.ts'
import type { StoredRecord } from './journal.ts'

export interface TasksPlugin extends AgentPlugin {
  readonly service: TaskService
}

/** Build the plugin from the agent config; throws TaskConfigError (message names the field) on a bad section. */
export function tasksPlugin(config: Pick<AgentConfig, 'id' | 'tasks' | 'on'>): TasksPlugin {
  const types = parseTasksSection(config.tasks)
  const on = parseOnSection(config.on)
  const service = new TaskService(config.id, { types, on })
  return {
    name: 'tasks',
    service,
    // The journal is opened and checked before the agent opens a port (JournalError: exit 2).
    prepare: (dataDir: string) => service.open(dataDir),
    start: (agent: Agent) => service.start(agent),
    stop: () => service.stop(),
    // Throws TaskConfigError on a bad section: the agent keeps the old task config and logs why.
    reload: (next: AgentConfig) => service.reconfigure({ types: parseTasksSection(next.tasks), on: parseOnSection(next.on) }),
    status: () => service.status(),
    routes: (app: FastifyInstance) => registerRoutes(app, service),
  }
}

/** HTTP status of an outcome. */
export function statusOf(o: TaskOutcome): number {
  return isFailure(o) ? (taskErrors[o.error] ?? 500) : 200
}

/** The JSON of GET /v1/tasks/:id and of the list. */
export function recordView(r: StoredRecord) {
  return {
    id: r.id,
    type: r.type,
    state: r.state,
    attempt: r.attempt,
    node: r.node,
    term: r.term,
    origin: r.origin,
    async: r.async,
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
    finishedAt: r.finishedAt === null ? null : new Date(r.finishedAt).toISOString(),
    deadline: new Date(r.deadline).toISOString(),
    outcome: r.outcome,
  }
}

const MAX_BODY = 8 * 1024 * 1024

function registerRoutes(app: FastifyInstance, service: TaskService): void {
  const badRequest = (reply: FastifyReply, detail: string) => reply.code(400).send({ error: 'bad-request', detail } satisfies Omit<TaskFailure, 'id' | 'type'>)
  const notRunning = (reply: FastifyReply) => reply.code(503).send({ error: 'interrupted', detail: 'the task service is not running' })

  app.post<{ Querystring: { async?: string }; Body: unknown }>(
    '/v1/tasks',
    {
      bodyLimit: MAX_BODY,
      // Body parse errors get the task API's error shape, not fastify's.
      errorHandler: (err, _req, reply) => {
        const code = (err as { statusCode?: number }).statusCode
        if (code === 413) return reply.code(413).send({ error: 'payload-too-large', detail: `request body exceeds ${MAX_BODY} bytes` })
        return reply.code(code && code < 500 ? 400 : 500).send({ error: code && code < 500 ? 'bad-request' : 'internal', detail: err.message })
      },
    },
    async (req, reply) => {
      if (!service.isStarted) return notRunning(reply)
      const body = req.body
      if (body === null || typeof body !== 'object' || Array.isArray(body)) return badRequest(reply, 'body must be a JSON object {type, payload, id?, timeoutMs?}')
      const { type, payload, id, timeoutMs, where, ...rest } = body as Record<string, unknown>
      const extra = Object.keys(rest)
      if (extra.length > 0) return badRequest(reply, `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')}`)
      if (typeof type !== 'string' || type === '') return badRequest(reply, 'type: expected a non-empty string')
      if (id !== undefined && typeof id !== 'string') return badRequest(reply, 'id: expected a string')
      if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0)) {
        return badRequest(reply, 'timeoutMs: expected a positive integer')
      }
      if (where !== undefined && (where === null || typeof where !== 'object' || Array.isArray(where) || !Object.values(where).every((v) => typeof v === 'string'))) {
        return badRequest(reply, 'where: expected an object of string tags, e.g. {"role": "web"}')
      }
      const asyncMode = req.query.async !== undefined && req.query.async !== '0' && req.query.async !== 'false'
      // The remote address bounds in-flight tasks per client; a waiting (long-poll) submit ends with its client.
      const opts = { id: id as string | undefined, timeoutMs: timeoutMs as number | undefined, where: where as Record<string, string> | undefined, client: req.ip }
      if (asyncMode) {
        const r = await service.submitAsync(type, payload, opts)
        if ('outcome' in r) return reply.code(statusOf(r.outcome)).send(r.outcome)
        return reply.code(202).send({ id: r.id })
      }
      const gone = new AbortController()
      const onClose = () => {
        if (!reply.raw.writableEnded) gone.abort()
      }
      reply.raw.once('close', onClose)
      const o = await service.submit(type, payload, { ...opts, signal: gone.signal })
      reply.raw.off('close', onClose)
      if (gone.signal.aborted) return reply.hijack()
      return reply.code(statusOf(o)).send(o)
    },
  )

  app.get<{ Params: { id: string } }>('/v1/tasks/:id', async (req, reply) => {
    if (!service.isStarted) return notRunning(reply)
    const r = service.get(req.params.id)
    if (!r) return reply.code(404).send({ error: 'not-found', detail: `no task with id "${req.params.id}" on this agent` })
    return recordView(r)
  })

  app.get<{ Querystring: { limit?: string } }>('/v1/tasks', async (req, reply) => {
    if (!service.isStarted) return notRunning(reply)
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit)
    if (!Number.isInteger(limit) || limit <= 0 || limit > 10_000) return badRequest(reply, 'limit: expected an integer between 1 and 10000')
    const { running, recent } = service.list(limit)
    return { running: running.map((r) => recordView(r as StoredRecord)), recent: recent.map((r) => recordView(r as StoredRecord)) }
  })
}
