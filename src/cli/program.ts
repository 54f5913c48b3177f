// The `conclave` command. Each subcommand lives in commands/<name>.ts and exports register(program);
// add new ones to the list in buildProgram(). Exit codes (errors.ts EXIT): 0 ok, 1 the operation failed,
// 2 usage or configuration error.
import { Command, CommanderError } from 'commander'
import { VERSION } from '../api/server.ts'
import * as agent from './commands/agent.ts'
import * as info from './commands/info.ts'
import * as keygen from './commands/keygen.ts'
import * as leave from './commands/leave.ts'
import * as members from './commands/members.ts'
import * as monitor from './commands/monitor.ts'
import * as recover from './commands/recover.ts'
import * as remove from './commands/remove.ts'
import * as status from './commands/status.ts'
import * as submit from './commands/submit.ts'
import * as tasks from './commands/tasks.ts'
import { setTokenFile } from './client.ts'
import { CliError, EXIT } from './errors.ts'

export function buildProgram(): Command {
  const program = new Command('conclave')
    .description('peer-to-peer high-availability agent: membership, master election, task allocation')
    .version(VERSION)
    // Usage errors are reported by run() as one line with exit code 2.
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true)
    .option('--token-file <file>', 'file with the agent\'s API token (default: $CONCLAVE_API_TOKEN, $CONCLAVE_API_TOKEN_FILE, or apiTokenFile of the config in $CONCLAVE_CONFIG)')
    .hook('preAction', (cmd) => setTokenFile(cmd.opts<{ tokenFile?: string }>().tokenFile))
  for (const cmd of [agent, status, members, info, monitor, leave, remove, recover, submit, tasks, keygen]) cmd.register(program)
  return program
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0
      const msg = e.message.replace(/^error: /, '').split('\n').map((l) => l.trim()).filter(Boolean).join(' ')
      process.stderr.write(`conclave: ${msg}\n`)
      return EXIT.usage
    }
    if (e instanceof CliError) {
      process.stderr.write(`conclave: ${e.message}\n`)
      return e.exitCode
    }
    const err = e as Error
    if (['ConfigError', 'NetError', 'ApiError', 'KeyError', 'StateFileError'].includes(err.name)) {
      process.stderr.write(`conclave: ${err.message}\n`)
      return EXIT.usage
    }
    process.stderr.write(`conclave: unexpected error: ${err.message ?? String(e)}\n`)
    if (process.env.CONCLAVE_DEBUG) process.stderr.write(`${err.stack}\n`)
    return EXIT.failed
  }
}
