// `conclave info`: facts about one agent (GET /v1/info): version, ids, uptime, files, ports, counters.
import type { Command } from 'commander'
import { apiOption, callApi, print, resolveApi } from '../client.ts'
import { duration } from '../table.ts'
import { tagsText } from './members.ts'

export interface InfoView {
  version: string
  id: string
  peerId: string
  clusterId: string | null
  role: string
  voters: string[]
  term: number
  maxTerm: number
  incarnation: number
  healthScore: number
  tags: Record<string, string>
  startedAt: string
  uptimeMs: number
  configFile: string | null
  dataDir: string
  listen: string
  addrs: string[]
  api: string
  quorumMode: string
  logLevel: string
  pid: number
  nodeVersion: string
  counters: Record<string, number>
}

export function formatInfo(i: InfoView): string {
  const counters = Object.entries(i.counters)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `  ${k.padEnd(24)} ${v}`)
  return [
    `version      ${i.version} (node ${i.nodeVersion}, pid ${i.pid})`,
    `id           ${i.id}`,
    `peer id      ${i.peerId}`,
    `cluster id   ${i.clusterId ?? '-'}`,
    `role         ${i.role} (term ${i.term}, highest seen ${i.maxTerm}, incarnation ${i.incarnation})`,
    `voters       ${i.voters.join(', ') || '-'}`,
    `tags         ${tagsText(i.tags)}`,
    `uptime       ${duration(i.uptimeMs)} (since ${i.startedAt})`,
    `config file  ${i.configFile ?? '- (flags and defaults)'}`,
    `data dir     ${i.dataDir}`,
    `listen       ${i.listen}`,
    `addrs        ${i.addrs.join(' ') || '-'}`,
    `api          ${i.api}`,
    `quorum mode  ${i.quorumMode}, log level ${i.logLevel}, health score ${i.healthScore}`,
    `counters${counters.length ? '' : '     (all zero)'}`,
    ...counters,
  ].join('\n')
}

export function register(program: Command): void {
  program
    .command('info')
    .description('show facts about an agent: version, id, peer id, cluster id, uptime, config file, data dir, ports, counters')
    .addOption(apiOption())
    .option('--json', 'print the JSON of GET /v1/info')
    .action(async (opts: { api?: string; json?: boolean }) => {
      const info = await callApi<InfoView>(resolveApi(opts.api), 'GET', '/v1/info')
      print(opts.json, info, () => formatInfo(info))
    })
}
