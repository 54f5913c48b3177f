// `conclave recover --voters a,b`: after the majority of the voters is gone for good, make the named survivors the
// voters (under a term and config version above everything known). Refused while a majority is still visible.
import type { Command } from 'commander'
import { callApi, DEFAULT_API } from '../client.ts'

export function register(program: Command): void {
  program
    .command('recover')
    .description('recover a cluster that lost the majority of its voters for good: the named live members become the voters')
    .requiredOption('--voters <ids>', 'comma-separated ids of the surviving members that become the voters')
    .option('--api <host:port>', 'API address of one surviving agent', DEFAULT_API)
    .action(async (opts: { api: string; voters: string }) => {
      await callApi<{ ok: boolean }>(opts.api, 'POST', `/v1/recover?voters=${encodeURIComponent(opts.voters)}`)
      process.stdout.write(`recovery started: the voters are now ${opts.voters}\n`)
    })
}
