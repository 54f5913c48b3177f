// Option parsers shared by client commands and `conclave agent`. Kept apart from commands/agent.ts so that a
// client command importing them does not pull the agent (libp2p, fastify) into its bundle chunk.
import { InvalidArgumentError } from 'commander'

/** --tag key=value, repeatable; a later value for the same key wins. */
export function collectTag(v: string, prev: Record<string, string> | undefined): Record<string, string> {
  const i = v.indexOf('=')
  if (i <= 0) throw new InvalidArgumentError(`expected key=value, got "${v}"`)
  return { ...(prev ?? {}), [v.slice(0, i)]: v.slice(i + 1) }
}
