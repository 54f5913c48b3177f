// `conclave agent`: run an agent until SIGINT/SIGTERM (graceful leave) or a fatal error.
import { hostname } from 'node:os'
import { Command, Option } from 'commander'
import { createAgent } from '../../agent/agent.ts'
import { loadConfig } from '../../config/load.ts'
import type { AgentConfig } from '../../config/schema.ts'
import { agentPlugins } from '../plugins.ts'
import { collectTag } from '../tags.ts'

/** After SIGINT/SIGTERM the process exits within this long even if the leave hangs. */
const EXIT_DEADLINE_MS = 2_800

const positiveInt = (v: string) => (/^\d+$/.test(v) ? Number(v) : Number.NaN)

/** Flag name (commander attribute) -> config key. */
const flagKeys: Record<string, keyof AgentConfig> = {
  id: 'id',
  listen: 'listen',
  api: 'api',
  dataDir: 'dataDir',
  bootstrap: 'bootstrap',
  mdns: 'mdns',
  quorum: 'quorum',
  expect: 'expect',
  logLevel: 'logLevel',
  logFormat: 'logFormat',
  tag: 'tags',
  clusterKeyFile: 'clusterKeyFile',
  apiTokenFile: 'apiTokenFile',
  insecure: 'insecure',
}

export function register(program: Command): void {
  program
    .command('agent')
    .description('run the conclave agent on this host')
    .option('--id <id>', `node id, unique in the cluster; ids order naturally, the lowest live one is master (default: hostname, here "${hostname()}")`)
    .option('--listen <multiaddr>', 'libp2p listen address (default: /ip4/0.0.0.0/tcp/7946)')
    .option('--api <host:port>', 'HTTP API address, or unix:<path> for a unix socket of mode 0600 (default: 127.0.0.1:7947)')
    .option('--data-dir <dir>', 'directory for the node key and state (default: ./data/<id>)')
    .option('--bootstrap <multiaddr>', 'address of an agent to join, repeatable; /p2p/<peer-id> optional', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--no-mdns', 'do not discover peers with mDNS on the LAN')
    .addOption(new Option('--quorum <mode>', 'master election safety: majority (leases from a majority) or none (a master in every partition)'))
    .option('--expect <n>', 'hold the election until this many members (self included) were seen (default: 1)', positiveInt)
    .option('--cluster-key-file <file>', 'cluster key (make one with `conclave keygen`): only agents with the key can connect; several keys in the file: all accepted, the first dials')
    .option('--api-token-file <file>', 'file with the HTTP API token; changes (POST) then need it; required when --api is not a loopback address')
    .option('--insecure', 'allow mDNS on a non-loopback address without a cluster key (any host on the LAN can join)')
    .option('--config <file>', 'JSON config file; flags override it')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default: info)')
    .option('--log-format <format>', 'pretty (readable lines), json (JSON lines) or auto: pretty when stderr is a terminal (default: auto)')
    .option('--json', 'same as --log-format json')
    .option('--tag <key=value>', 'a tag of this node (e.g. role=web), repeatable; gossiped with membership, used by submit --where', collectTag)
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const flags: Partial<AgentConfig> = {}
      for (const [attr, key] of Object.entries(flagKeys)) {
        if (cmd.getOptionValueSource(attr) === 'cli') (flags as Record<string, unknown>)[key] = opts[attr]
      }
      if (opts.json && flags.logFormat === undefined) flags.logFormat = 'json'
      const configFile = opts.config as string | undefined
      const config = loadConfig(flags, configFile)
      const agent = await createAgent({ config, plugins: agentPlugins(config), configFile })
      // An agent keeps serving its cluster: a stray rejection inside a library is logged, not fatal.
      process.on('unhandledRejection', (err) => agent.logger.error({ err }, 'unhandled promise rejection'))

      const onSignal = (signal: NodeJS.Signals) => {
        agent.logger.info({ signal }, `received ${signal}, leaving`)
        setTimeout(() => {
          process.stderr.write(`conclave: leave did not finish within ${EXIT_DEADLINE_MS} ms, exiting\n`)
          process.exit(0)
        }, EXIT_DEADLINE_MS).unref()
        void agent.leave()
      }
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      // SIGHUP reloads the config file (Serf's and Consul's convention; closing a terminal must not kill the agent).
      // A bad file is refused with one line and the agent keeps its running config.
      const configPath = opts.config as string | undefined
      process.on('SIGHUP', () => {
        if (!configPath) {
          agent.logger.warn('SIGHUP: no --config file to reload; nothing changed')
          return
        }
        let next: AgentConfig
        try {
          next = loadConfig(flags, configPath)
          agentPlugins(next) // validates the tasks and on sections
        } catch (e) {
          agent.logger.error({ path: configPath }, `config reload refused, keeping the running config: ${(e as Error).message}`)
          return
        }
        const notes = agent.reload(next)
        agent.logger.info({ path: configPath, notes }, `config reloaded from ${configPath}${notes.length ? ` (${notes.join('; ')})` : ''}`)
      })

      const result = await agent.stopped
      if (result.reason) process.stderr.write(`conclave: ${result.reason}\n`)
      process.exitCode = result.code
    })
}
