// `conclave status`: this agent's view of the cluster.
import type { Command } from 'commander'
import type { StatusView } from '../../agent/types.ts'
import { callApi, DEFAULT_API } from '../client.ts'
import { membersTable } from './members.ts'
import { loadSection } from './tasks.ts'

export function formatStatus(s: StatusView): string {
  const count = (state: string) => s.members.filter((m) => m.state === state).length
  const q = s.quorum
  return [
    `node     ${s.id}  ${s.peerId}`,
    `addrs    ${s.addrs.join(' ') || '-'}`,
    `master   ${s.master ? `${s.master.id} (term ${s.master.term})${s.master.id === s.id ? ', this node' : ''}` : 'none'}`,
    `quorum   ${q.has ? 'yes' : 'NO'} (${q.visible} of ${q.voting} voting members visible, ${q.needed} needed)`,
    `members  ${count('alive')} alive, ${count('suspect')} suspect, ${count('dead')} dead, ${count('left')} left`,
    '',
    membersTable(s.members),
  ].join('\n')
}

export function register(program: Command): void {
  program
    .command('status')
    .description("show an agent's view of the cluster")
    .option('--api <host:port>', 'API address of the agent', DEFAULT_API)
    .option('--json', 'print the JSON of GET /v1/status')
    .action(async (opts: { api: string; json?: boolean }) => {
      const s = await callApi<StatusView>(opts.api, 'GET', '/v1/status')
      process.stdout.write((opts.json ? JSON.stringify(s, null, 2) : formatStatus(s) + (await loadSection(opts.api))) + '\n')
    })
}
