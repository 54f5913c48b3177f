// Shapes shared by the task subsystem: outcomes (the JSON the API and the CLI print), error codes, records.

/** Every submit ends with exactly one of these, and the error names its cause. */
export const taskErrors = {
  'bad-request': 400,
  'unknown-type': 400,
  'id-conflict': 409,
  'payload-too-large': 413,
  'queue-full': 429,
  'handler-failed': 502,
  'no-master': 503,
  /** submit --where: no live member has the tags (and the type). */
  'no-match': 503,
  'interrupted': 503,
  'timeout': 504,
} as const

export type TaskErrorCode = keyof typeof taskErrors

export interface TaskSuccess {
  id: string
  type: string
  /** The node that ran the task. */
  node: string
  attempt: number
  /** The master term the handler ran under (the fencing token), when it ran on the master. */
  term?: number
  result: unknown
  durationMs?: number
}

export interface TaskFailure {
  id: string
  type: string
  error: TaskErrorCode
  /** One line for a human, naming the node and the cause (exit code, timeout, quorum arithmetic). */
  detail: string
  node?: string
  attempt?: number
  term?: number
  exitCode?: number | null
  signal?: string | null
  /** Last bytes of the handler's stderr. */
  stderr?: string
  durationMs?: number
}

export type TaskOutcome = TaskSuccess | TaskFailure

export function isFailure(o: TaskOutcome): o is TaskFailure {
  return 'error' in o
}

export type TaskState = 'queued' | 'forwarded' | 'running' | 'succeeded' | 'failed'

export interface TaskRecord {
  id: string
  type: string
  payload: unknown
  state: TaskState
  outcome: TaskOutcome | null
  attempt: number
  /** Where it runs or ran (this node, or the master it was forwarded to). */
  node: string | null
  term: number | null
  /** 'submit': submitted to this agent (API, CLI, library); 'remote': forwarded here by another agent. */
  origin: 'submit' | 'remote'
  async: boolean
  /** Absolute deadline, wall clock ms since the epoch (survives a restart, unlike the monotonic clock). */
  deadline: number
  createdAt: number
  updatedAt: number
  finishedAt: number | null
}

/** What a handler sees besides the payload. */
export interface TaskContext {
  id: string
  type: string
  attempt: number
  nodeId: string
  /** The master term, the fencing token: a resource that remembers the highest term it saw can refuse a stale master. */
  term: number | undefined
  /** Aborted when the attempt times out or the agent stops. */
  signal: AbortSignal
}

export type ModuleHandler = (payload: unknown, ctx: TaskContext) => unknown | Promise<unknown>
