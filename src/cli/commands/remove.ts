// `conclave remove <id>`: drop a member (dead, or gone for good) so it stops voting.
import type { Command } from 'commander'
import { callApi, DEFAULT_API } from '../client.ts'

export function register(program: Command): void {
  program
    .command('remove')
    .description('remove a dead member from the cluster so it no longer counts for the quorum')
    .argument('<id>', 'node id of the member')
    .option('--api <host:port>', 'API address of any agent (the request is forwarded to the master)', DEFAULT_API)
    .action(async (id: string, opts: { api: string }) => {
      await callApi<{ ok: boolean }>(opts.api, 'POST', `/v1/members/${encodeURIComponent(id)}/remove`)
      process.stdout.write(`removal of ${id} requested\n`)
    })
}
