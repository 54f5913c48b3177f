// `conclave monitor`: stream an agent's log records as they happen (like `serf monitor`). Every core event is one
// record (`member node-3 alive -> dead`, `master is node-2 (term 4)`), so this is also the event stream in words.
// Runs until Ctrl-C (exit 0) or until the agent goes away (exit 1).
import type { Command } from 'commander'
import { Option } from 'commander'
import type { LogRecord } from '../../agent/logger.ts'
import { apiOption, followSse, resolveApi } from '../client.ts'
import { CliError, EXIT } from '../errors.ts'

export const monitorLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const

export function register(program: Command): void {
  program
    .command('monitor')
    .description("stream an agent's events and log lines as they happen, until Ctrl-C")
    .addOption(new Option('--level <level>', 'lowest level shown; debug adds probes (the agent logs more while a monitor asks)').choices(monitorLevels).default('info'))
    .option('--json', 'one JSON log record per line, as the agent logs them')
    .addOption(apiOption())
    .action(async (opts: { api?: string; json?: boolean; level: string }) => {
      const api = resolveApi(opts.api)
      const stop = new AbortController()
      const onSignal = () => stop.abort()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR
      // Imported here: the log formatter's module loads pino, which other commands need not load.
      const { formatRecord } = await import('../../agent/logger.ts')
      const how = await followSse(
        api,
        `/v1/logs?level=${encodeURIComponent(opts.level)}`,
        (event, data) => {
          if (event !== 'log') return
          const r = data as LogRecord
          process.stdout.write((opts.json ? JSON.stringify(r) : formatRecord(r, { color, showNode: true })) + '\n')
        },
        stop.signal,
      )
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      if (how === 'ended') throw new CliError(`the agent at ${api} closed the stream (stopped or left)`, EXIT.failed)
    })
}
