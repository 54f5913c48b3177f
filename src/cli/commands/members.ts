// `conclave members`: the member list of an agent's view, in one screen width: the master (ROLE), this node (*),
// tags, short peer ids; --wide adds full peer ids and addresses.
import type { Command } from 'commander'
import type { MemberView, StatusView } from '../../agent/types.ts'
import { apiOption, callApi, callApiOptional, print, resolveApi } from '../client.ts'
import { age, shortPeer, table, textWidth, truncate } from '../table.ts'
import { compareIds } from '../../core/order.ts'

/** A member as the status shows it, with what newer agents add (role data and tags). */
export type MemberRow = Omit<MemberView, 'voter' | 'tags'> & { voter?: boolean; tags?: Record<string, string> }
export type StatusRows = Omit<StatusView, 'members'> & { voters?: string[]; members: MemberRow[] }

export interface MembersContext {
  /** This node's id (marked with *). */
  self?: string
  master?: string | null
  /** Ids of the voting members, when the member rows do not say. */
  voters?: string[]
  /** This node's tags, when the member rows do not carry tags (agents before tag gossip). */
  selfTags?: Record<string, string>
  wide?: boolean
  /** Fit the table in this many columns (tags are cut first); ignored with wide. */
  width?: number
  now?: number
}

export function roleOf(m: MemberRow, ctx: MembersContext): 'master' | 'voter' | 'member' {
  if (ctx.master && m.id === ctx.master) return 'master'
  if (typeof m.voter === 'boolean') return m.voter ? 'voter' : 'member'
  return ctx.voters?.includes(m.id) ? 'voter' : 'member'
}

export function tagsText(tags: Record<string, string> | undefined): string {
  const entries = Object.entries(tags ?? {})
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${v}`).join(',')
}

export function membersTable(members: MemberRow[], ctx: MembersContext = {}): string {
  const sorted = [...members].sort((a, b) => compareIds(a.id, b.id))
  const tagsOf = (m: MemberRow) => tagsText(m.tags ?? (m.id === ctx.self ? ctx.selfTags : undefined))
  const header = ['ID', 'STATE', 'ROLE', 'INC', 'SINCE', 'TAGS', 'PEER']
  const rows = (tagWidth: number) =>
    sorted.map((m) => {
      const cells = [
        m.id + (m.id === ctx.self ? '*' : ''),
        m.state,
        roleOf(m, ctx),
        String(m.incarnation),
        age(m.since, ctx.now),
        ctx.wide ? tagsOf(m) : truncate(tagsOf(m), tagWidth),
        ctx.wide ? m.peerId : shortPeer(m.peerId),
      ]
      if (ctx.wide) cells.push(m.addrs.join(' '))
      return cells
    })
  const legend = ctx.self ? '\n* this node' : ''
  if (ctx.wide) return table([...header, 'ADDRS'], rows(Infinity)) + legend
  const width = ctx.width ?? 80
  let tagWidth = Math.max(4, ...sorted.map((m) => tagsOf(m).length))
  let out = table(header, rows(tagWidth))
  // Cut the tags column until the table fits (never below 4 characters: "role…" still says something).
  while (textWidth(out) > width && tagWidth > 4) {
    tagWidth = Math.max(4, tagWidth - (textWidth(out) - width))
    out = table(header, rows(tagWidth))
  }
  return out + legend
}

/** The context a members table needs, from the status (and GET /v1/info for agents whose status has no roles). */
export async function membersContext(api: string, s: StatusRows): Promise<MembersContext> {
  const needInfo = !Array.isArray(s.voters) || s.members.some((m) => m.tags === undefined)
  const info = needInfo ? await callApiOptional<{ voters?: string[]; tags?: Record<string, string> }>(api, '/v1/info').catch(() => null) : null
  return { self: s.id, master: s.master?.id ?? null, voters: s.voters ?? info?.voters, selfTags: info?.tags }
}

export function register(program: Command): void {
  program
    .command('members')
    .description('list the members an agent knows: state, role (master, voter, member), tags; * marks the agent asked')
    .addOption(apiOption())
    .option('--wide', 'full peer ids and addresses (wider than a screen)')
    .option('--json', 'print the JSON of GET /v1/members')
    .action(async (opts: { api?: string; json?: boolean; wide?: boolean }) => {
      const api = resolveApi(opts.api)
      const s = await callApi<StatusRows>(api, 'GET', '/v1/status')
      if (opts.json) return print(true, s.members, () => '')
      const ctx = await membersContext(api, s)
      print(false, null, () => membersTable(s.members, { ...ctx, wide: opts.wide, width: process.stdout.columns || 80 }))
    })
}
