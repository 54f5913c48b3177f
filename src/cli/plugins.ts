// The plugins every `conclave agent` runs. Subsystems (tasks, ...) add their plugin here.
import type { AgentPlugin } from '../agent/types.ts'
import type { AgentConfig } from '../config/schema.ts'
import { tasksPlugin } from '../tasks/plugin.ts'

export function agentPlugins(config: AgentConfig): AgentPlugin[] {
  // Validates the tasks and on sections: a bad field is a one-line config error, exit code 2.
  return [tasksPlugin(config)]
}
