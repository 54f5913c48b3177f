// `conclave status`: this agent's view of the cluster.
import type { Command } from 'commander'
import { apiOption, callApi, print, resolveApi } from '../client.ts'
import { membersContext, membersTable, type MembersContext, type StatusRows } from './members.ts'
import { loadSection } from './tasks.ts'

export function formatStatus(s: StatusRows & { clusterId?: string | null; role?: string }, ctx: MembersContext = {}): string {
  const count = (state: string) => s.members.filter((m) => m.state === state).length
  const q = s.quorum
  return [
    `node     ${s.id}  ${s.peerId}${s.role ? `  (${s.role})` : ''}`,
    ...(s.clusterId ? [`cluster  ${s.clusterId}`] : []),
    `addrs    ${s.addrs.join(' ') || '-'}`,
    `master   ${s.master ? `${s.master.id} (term ${s.master.term})${s.master.id === s.id ? ', this node' : ''}` : 'none'}`,
    `quorum   ${q.has ? 'yes' : 'NO'} (${q.visible} of ${q.voting} voting members visible, ${q.needed} needed)`,
    `members  ${count('alive')} alive, ${count('suspect')} suspect, ${count('dead')} dead, ${count('left')} left`,
    '',
    membersTable(s.members, { self: s.id, master: s.master?.id ?? null, ...ctx }),
  ].join('\n')
}

export function register(program: Command): void {
  program
    .command('status')
    .description("show an agent's view of the cluster")
    .addOption(apiOption())
    .option('--json', 'print the JSON of GET /v1/status')
    .action(async (opts: { api?: string; json?: boolean }) => {
      const api = resolveApi(opts.api)
      const s = await callApi<StatusRows>(api, 'GET', '/v1/status')
      if (opts.json) return print(true, s, () => '')
      const ctx = await membersContext(api, s)
      const load = await loadSection(api)
      print(false, null, () => formatStatus(s, { ...ctx, width: process.stdout.columns || 80 }) + load)
    })
}
