// Loads the agent configuration: defaults, then the JSON config file, then explicitly given flags.
import { readFileSync } from 'node:fs'
import type { z } from 'zod'
import { agentSchema, baseDefaults, defaultDataDir, fileSchema, type AgentConfig } from './schema.ts'

/** A configuration problem; the CLI prints the message as one line and exits 2. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Maps config keys to the flag that sets them, so flag errors name the flag the user typed. */
const flagNames: Partial<Record<keyof AgentConfig, string>> = {
  id: '--id',
  listen: '--listen',
  api: '--api',
  dataDir: '--data-dir',
  bootstrap: '--bootstrap',
  mdns: '--no-mdns',
  quorum: '--quorum',
  expect: '--expect',
  logLevel: '--log-level',
  logFormat: '--log-format',
  tags: '--tag',
  clusterKeyFile: '--cluster-key-file',
  apiTokenFile: '--api-token-file',
  insecure: '--insecure',
}

export function formatIssues(error: z.ZodError, source: 'file' | 'flags' | 'merged', flagKeys: Set<string> = new Set()): string {
  const issue = error.issues[0]
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${k}"`).join(', ')
    return `config error: unknown key ${keys}${issue.path.length ? ` in ${issue.path.join('.')}` : ''}`
  }
  const top = String(issue.path[0] ?? '')
  let field = issue.path.map(String).join('.')
  if ((source === 'flags' || (source === 'merged' && flagKeys.has(top))) && flagNames[top as keyof AgentConfig]) {
    field = flagNames[top as keyof AgentConfig]! + (issue.path.length > 1 ? `[${issue.path.slice(1).join('.')}]` : '')
  }
  return `config error: ${field ? `${field}: ` : ''}${issue.message}`
}

export function readConfigFile(path: string): z.infer<typeof fileSchema> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new ConfigError(`config error: cannot read config file ${path}${code ? ` (${code})` : ''}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    throw new ConfigError(`config error: ${path} is not valid JSON: ${(e as Error).message}`)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`config error: ${path} must contain a JSON object`)
  }
  const parsed = fileSchema.safeParse(raw)
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error, 'file'))
  return parsed.data
}

/**
 * Resolve the configuration. `flags` must hold only the flags the user actually gave (so they override the file,
 * and the file overrides the defaults).
 */
export function loadConfig(flags: Partial<AgentConfig>, configFile?: string): AgentConfig {
  const file = configFile ? readConfigFile(configFile) : {}
  const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as Partial<AgentConfig>
  const merged: Record<string, unknown> = { ...baseDefaults(), ...file, ...given }
  if (merged.dataDir === undefined) merged.dataDir = defaultDataDir(String(merged.id))
  const parsed = agentSchema.safeParse(merged)
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error, 'merged', new Set(Object.keys(given))))
  return parsed.data
}
