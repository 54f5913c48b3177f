// `conclave remove <id>`: drop a member (dead, or gone for good) so it stops voting.
import type { Command } from 'commander'
import { apiOption, callApi, print, resolveApi } from '../client.ts'

export function register(program: Command): void {
  program
    .command('remove')
    .description('remove a dead member from the cluster so it no longer counts for the quorum')
    .argument('<id>', 'node id of the member')
    .addOption(apiOption('API address of any agent (the request is forwarded to the master)'))
    .option('--json', 'print the JSON answer of the agent')
    .action(async (id: string, opts: { api?: string; json?: boolean }) => {
      const res = await callApi<{ ok: boolean }>(resolveApi(opts.api), 'POST', `/v1/members/${encodeURIComponent(id)}/remove`)
      print(opts.json, res, () => `removal of ${id} requested`)
    })
}
