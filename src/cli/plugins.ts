// The plugins every `conclave agent` runs. Subsystems (tasks, ...) add their plugin here.
import type { AgentPlugin } from '../agent/types.ts'
import type { AgentConfig } from '../config/schema.ts'

export function agentPlugins(config: AgentConfig): AgentPlugin[] {
  void config
  return []
}
