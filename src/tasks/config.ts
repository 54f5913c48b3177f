// The `tasks` and `on` sections of the agent config file. Errors name the field, e.g.
// `tasks.rotate-keys.timeoutMs: expected a positive integer`.
import * as z from 'zod'

const posInt = () =>
  z.number({ error: 'expected a positive integer' }).int({ error: 'expected a positive integer' }).positive({ error: 'expected a positive integer' })
const nonNegInt = () =>
  z.number({ error: 'expected an integer >= 0' }).int({ error: 'expected an integer >= 0' }).min(0, { error: 'expected an integer >= 0' })

const argv = z
  .array(z.string({ error: 'expected a string' }).min(1, { error: 'must not be empty' }), { error: 'expected an argv array of strings, e.g. ["./rotate.sh", "--all"]' })
  .min(1, { error: 'expected at least the program name' })

/** Task type names appear in URLs, env vars and logs. */
export const taskTypeName = z
  .string({ error: 'expected a string' })
  .min(1, { error: 'must not be empty' })
  .max(128, { error: 'must be at most 128 characters' })
  .regex(/^[A-Za-z0-9._:-]+$/, { error: 'may contain only letters, digits and . _ : -' })

/** Payloads and results cross the task protocol in one message (max 4 MiB, src/net); leave room for the envelope. */
const WIRE_LIMIT = 3 * 1024 * 1024

export const taskDefaults = {
  masterOnly: false,
  timeoutMs: 30_000,
  concurrency: 4,
  maxQueued: 100,
  maxPayloadBytes: 1024 * 1024,
  retries: 0,
  killGraceMs: 2_000,
  maxOutputBytes: 1024 * 1024,
} as const

/** Options shared by config-declared command types and library-registered module handlers. */
export const taskOptionsSchema = z
  .object({
    /** Runs only on the master (with a majority of lease grants); other agents forward it there. */
    masterOnly: z.boolean({ error: 'expected true or false' }).default(taskDefaults.masterOnly),
    /** Run timeout of one attempt: the process group gets SIGTERM, then SIGKILL after killGraceMs. */
    timeoutMs: posInt().default(taskDefaults.timeoutMs),
    /** Attempts of this type running at once on one agent; more wait in a queue. */
    concurrency: posInt().default(taskDefaults.concurrency),
    /** Queue bound per type: a submit beyond it is rejected with `queue-full`. */
    maxQueued: nonNegInt().default(taskDefaults.maxQueued),
    /** Size bound of the JSON payload. */
    maxPayloadBytes: posInt().max(WIRE_LIMIT, { error: `must be at most ${WIRE_LIMIT} (a forwarded task is one message of at most 4 MiB)` }).default(taskDefaults.maxPayloadBytes),
    /** How many times a failed attempt (non-zero exit, timeout, handler error) is run again on the same node. */
    retries: nonNegInt().default(taskDefaults.retries),
    killGraceMs: nonNegInt().default(taskDefaults.killGraceMs),
    /** Bound on captured stdout (the result); stderr keeps its last 4 KiB. */
    maxOutputBytes: posInt().max(WIRE_LIMIT, { error: `must be at most ${WIRE_LIMIT} (a result travels back as one message of at most 4 MiB)` }).default(taskDefaults.maxOutputBytes),
  })
  .strict()

export const taskTypeSchema = taskOptionsSchema
  .extend({
    /** argv of the handler; the payload JSON arrives on stdin, stdout is the result. */
    command: argv,
    /** Working directory of the command (default: the agent's working directory). */
    cwd: z.string({ error: 'expected a path' }).min(1, { error: 'must not be empty' }).optional(),
    /** Extra environment variables for the command. */
    env: z.record(z.string(), z.string({ error: 'expected a string' }), { error: 'expected an object of strings' }).optional(),
  })
  .strict()

export const tasksSectionSchema = z.record(taskTypeName, taskTypeSchema, { error: 'expected an object of task types, e.g. {"rotate-keys": {"command": ["./rotate.sh"]}}' })

export type TaskOptions = z.infer<typeof taskOptionsSchema>
export type TaskTypeConfig = z.infer<typeof taskTypeSchema>

/** keepalived-style role transitions (master, backup, fault), lease edges, and Serf-style member events (src/tasks/hooks.ts). */
export const hookEvents = ['becomeMaster', 'stopMaster', 'master', 'backup', 'fault', 'memberJoin', 'memberFail', 'memberLeave', 'memberUpdate'] as const
export type HookEvent = (typeof hookEvents)[number]

export const hookDefaults = { timeoutMs: 10_000, killGraceMs: 2_000 } as const

const hookObject = z
  .object({
    command: argv,
    timeoutMs: posInt().default(hookDefaults.timeoutMs),
    cwd: z.string({ error: 'expected a path' }).min(1, { error: 'must not be empty' }).optional(),
    env: z.record(z.string(), z.string({ error: 'expected a string' }), { error: 'expected an object of strings' }).optional(),
  })
  .strict()

/** A hook is an argv array (default timeout) or { command, timeoutMs }; an event may list several. */
const hook = z.union([argv.transform((command) => hookObject.parse({ command })), hookObject], {
  error: 'expected an argv array or { "command": [...], "timeoutMs": n }',
})
const hookList = z
  .union([hook, z.array(hook)], { error: 'expected an argv array, { "command": [...], "timeoutMs": n }, or a list of those' })
  .transform((h) => (Array.isArray(h) ? h : [h]))

export const onSectionSchema = z
  .object(Object.fromEntries(hookEvents.map((e) => [e, hookList.optional()])) as Record<HookEvent, z.ZodOptional<typeof hookList>>)
  .extend({
    /** Wait this long before a member or role hook runs, so a burst of events is one run (default 500). */
    coalesceMs: nonNegInt().max(60_000, { error: 'must be at most 60000 (a hook should not lag its event by more than a minute)' }).optional(),
  })
  .strict()

export type HookConfig = z.infer<typeof hookObject>
export type OnConfig = Partial<Record<HookEvent, HookConfig[]>> & { coalesceMs?: number }

/** Turn zod issues into one line per problem, each naming the field path. */
export function formatIssues(section: string, error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = [section, ...i.path.map(String)].join('.')
      if (i.code === 'invalid_key') return `${path}: invalid name (${i.issues[0]?.message ?? 'bad key'})`
      if (i.code === 'invalid_union') {
        // Report the deepest problem of the closest branch: more useful than "invalid input".
        const inner = i.errors.flat().sort((a, b) => b.path.length - a.path.length)[0]
        if (inner && inner.path.length > 0) return `${[path, ...inner.path.map(String)].join('.')}: ${inner.message}`
      }
      if (i.code === 'unrecognized_keys') return `${path}: unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`
      return `${path}: ${i.message}`
    })
    .join('; ')
}

/** Named ConfigError so the CLI reports it like any config problem: one line, exit code 2. */
export class TaskConfigError extends Error {
  override name = 'ConfigError'
  constructor(message: string) {
    super(`config error: ${message}`)
  }
}

export function parseTasksSection(raw: unknown): Record<string, TaskTypeConfig> {
  if (raw === undefined || raw === null) return {}
  const r = tasksSectionSchema.safeParse(raw)
  if (!r.success) throw new TaskConfigError(formatIssues('tasks', r.error))
  return r.data
}

export function parseOnSection(raw: unknown): OnConfig {
  if (raw === undefined || raw === null) return {}
  const r = onSectionSchema.safeParse(raw)
  if (!r.success) throw new TaskConfigError(formatIssues('on', r.error))
  return r.data as OnConfig
}

/** Options given to handle() in the library API; same fields and defaults as the config. */
export function parseTaskOptions(type: string, raw: unknown): TaskOptions {
  const name = taskTypeName.safeParse(type)
  if (!name.success) throw new TaskConfigError(`task type "${type}": ${name.error.issues[0]?.message}`)
  const r = taskOptionsSchema.safeParse(raw ?? {})
  if (!r.success) throw new TaskConfigError(formatIssues(`handle(${type})`, r.error))
  return r.data
}
