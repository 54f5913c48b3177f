// The library API for embedding conclave in a Node program:
//
//   const agent = await createAgent({ id: 'node-1', listen: '/ip4/127.0.0.1/tcp/0', api: '127.0.0.1:0', mdns: false, bootstrap: [...] })
//   agent.handle('rotate-keys', { masterOnly: true }, async (payload, ctx) => rotate(payload, ctx.term))
//   const out = await agent.submit('rotate-keys', { all: true })   // runs on the master, wherever submitted
//   agent.events.on('master', (e) => ...); agent.status(); await agent.stop()
import type { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { createAgent as createShellAgent } from '../agent/agent.ts'
import type { Agent, AgentEvents, AgentPlugin, StatusView } from '../agent/types.ts'
import { loadConfig } from '../config/load.ts'
import type { AgentConfig } from '../config/schema.ts'
import type { TaskOptions } from './config.ts'
import { tasksPlugin } from './plugin.ts'
import { TaskError, type SubmitOptions } from './service.ts'
import { isFailure, type ModuleHandler, type TaskOutcome, type TaskRecord, type TaskSuccess } from './types.ts'

export interface ConclaveOptions extends Partial<Omit<AgentConfig, 'tasks' | 'on'>> {
  /** A JSON config file, as `conclave agent --config`; the options above override it. */
  configFile?: string
  /** Command task types, as the config file's `tasks` section. */
  tasks?: Record<string, unknown>
  /** Event hooks, as the config file's `on` section. */
  on?: Record<string, unknown>
  /** In-process handlers registered before the agent joins (so no forwarded task finds its type missing). */
  handlers?: Record<string, Partial<TaskOptions> & { handler: ModuleHandler }>
  logger?: Logger
  /** More plugins to run in the agent. */
  plugins?: AgentPlugin[]
}

export interface ConclaveAgent {
  readonly id: string
  readonly peerId: string
  /** Membership and master events: 'member', 'master', 'event' (every core event), 'stopped'. */
  readonly events: EventEmitter<AgentEvents>
  /** The underlying agent (network, core views, logger, metrics). */
  readonly agent: Agent
  /** Register an in-process handler for a task type. */
  handle(type: string, options: Partial<TaskOptions>, fn: ModuleHandler): void
  /** Submit a task and wait: resolves with the success outcome, rejects with a TaskError whose `failure` names the cause. */
  submit(type: string, payload: unknown, opts?: SubmitOptions): Promise<TaskSuccess>
  /** Submit a task and resolve with its outcome, success or failure (the object the HTTP API returns). */
  submitOutcome(type: string, payload: unknown, opts?: SubmitOptions): Promise<TaskOutcome>
  /** A task this agent accepted or ran. */
  task(id: string): TaskRecord | undefined
  /** Cluster status plus task load of every member. */
  status(): StatusView & { tasks: Record<string, unknown> }
  isMaster(): boolean
  /** Leave the cluster gracefully (others record `left`) and stop; `{ leave: false }` stops as if crashed. */
  stop(opts?: { leave?: boolean }): Promise<void>
}

export async function createAgent(options: ConclaveOptions = {}): Promise<ConclaveAgent> {
  const { configFile, tasks, on, handlers, logger, plugins, ...flags } = options
  const config = loadConfig({ ...flags, ...(tasks !== undefined ? { tasks } : {}), ...(on !== undefined ? { on } : {}) } as Partial<AgentConfig>, configFile)
  const plugin = tasksPlugin(config)
  for (const [type, h] of Object.entries(handlers ?? {})) {
    const { handler, ...opts } = h
    plugin.service.handle(type, opts, handler)
  }
  const agent = await createShellAgent({ config, plugins: [plugin, ...(plugins ?? [])], logger })
  const service = plugin.service
  return {
    id: agent.id,
    peerId: agent.peerId,
    events: agent.events,
    agent,
    handle: (type, opts, fn) => service.handle(type, opts, fn),
    async submit(type, payload, opts) {
      const o = await service.submit(type, payload, opts)
      if (isFailure(o)) throw new TaskError(o)
      return o
    },
    submitOutcome: (type, payload, opts) => service.submit(type, payload, opts),
    task: (id) => service.get(id),
    status: () => ({ ...agent.status(), tasks: service.status() }),
    isMaster: () => agent.isMaster(),
    stop: (opts) => (opts?.leave === false ? agent.stop() : agent.leave()),
  }
}
