// `conclave leave`: ask an agent to leave the cluster gracefully and stop.
import type { Command } from 'commander'
import { apiOption, callApi, print, resolveApi } from '../client.ts'

export function register(program: Command): void {
  program
    .command('leave')
    .description('make an agent leave the cluster gracefully (others record it as left) and stop')
    .addOption(apiOption('API address of the agent'))
    .option('--json', 'print the JSON answer of the agent')
    .action(async (opts: { api?: string; json?: boolean }) => {
      const res = await callApi<{ id: string }>(resolveApi(opts.api), 'POST', '/v1/leave')
      print(opts.json, res, () => `${res.id} is leaving`)
    })
}
