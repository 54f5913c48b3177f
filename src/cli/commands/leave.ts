// `conclave leave`: ask an agent to leave the cluster gracefully and stop.
import type { Command } from 'commander'
import { callApi, DEFAULT_API } from '../client.ts'

export function register(program: Command): void {
  program
    .command('leave')
    .description('make an agent leave the cluster gracefully (others record it as left) and stop')
    .option('--api <host:port>', 'API address of the agent', DEFAULT_API)
    .action(async (opts: { api: string }) => {
      const res = await callApi<{ id: string }>(opts.api, 'POST', '/v1/leave')
      process.stdout.write(`${res.id} is leaving\n`)
    })
}
