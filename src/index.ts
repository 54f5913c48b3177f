// Public entry point of the conclave package (package.json "exports"/"main").
export { createAgent, type ConclaveAgent, type ConclaveOptions } from './tasks/library.ts'
export { TaskError, type SubmitOptions } from './tasks/service.ts'
export type { TaskContext, TaskFailure, TaskOutcome, TaskRecord, TaskState, TaskSuccess, TaskErrorCode, ModuleHandler } from './tasks/types.ts'
export type { TaskOptions, TaskTypeConfig, OnConfig, HookEvent } from './tasks/config.ts'
export type { Agent, AgentEvents, AgentPlugin, StatusView, MemberView } from './agent/types.ts'
