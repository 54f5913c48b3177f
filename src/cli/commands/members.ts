// `conclave members`: the member list of an agent's view.
import type { Command } from 'commander'
import type { MemberView } from '../../agent/types.ts'
import { callApi, DEFAULT_API } from '../client.ts'
import { age, table } from '../table.ts'

export function membersTable(members: MemberView[]): string {
  return table(
    ['ID', 'STATE', 'INC', 'SINCE', 'PEER', 'ADDRS'],
    members.map((m) => [m.id, m.state, String(m.incarnation), age(m.since), m.peerId, m.addrs.join(' ')]),
  )
}

export function register(program: Command): void {
  program
    .command('members')
    .description('list the members an agent knows, with their state')
    .option('--api <host:port>', 'API address of the agent', DEFAULT_API)
    .option('--json', 'print the JSON of GET /v1/members')
    .action(async (opts: { api: string; json?: boolean }) => {
      const members = await callApi<MemberView[]>(opts.api, 'GET', '/v1/members')
      process.stdout.write((opts.json ? JSON.stringify(members, null, 2) : membersTable(members)) + '\n')
    })
}
