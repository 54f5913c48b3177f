// The `conclave` command. Each subcommand lives in commands/<name>.ts and exports register(program);
// add new ones to clientCommands (or, for a command that needs the agent's code, to commandsFor()). Exit codes
// (errors.ts EXIT): 0 ok, 1 the operation failed, 2 usage or configuration error.
import { Command, CommanderError } from 'commander'
import { VERSION } from '../version.ts'
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

interface CommandModule {
  register(program: Command): void
}

/** The commands that only talk to an agent's HTTP API: cheap to import. */
const clientCommands: Record<string, CommandModule> = { status, members, info, monitor, leave, remove, recover, submit, tasks, keygen }

/**
 * The command modules a command line needs. `agent` pulls in libp2p, fastify and the agent (about 0.5 s of
 * imports and 60 MB), so it is imported only when the line runs it, or may print help or a suggestion that
 * lists it; `conclave status` and `conclave --version` then answer without it.
 */
export async function commandsFor(argv: string[]): Promise<CommandModule[]> {
  const args = argv.slice(2)
  const first = args[0]
  const versionOnly = args.length === 1 && (first === '--version' || first === '-V')
  if (versionOnly || (first !== undefined && Object.hasOwn(clientCommands, first))) return Object.values(clientCommands)
  const agent = await import('./commands/agent.ts')
  return [agent, ...Object.values(clientCommands)]
}

export function buildProgram(commands: CommandModule[]): Command {
  const program = new Command('conclave')
    .description('peer-to-peer high-availability agent: membership, master election, task allocation')
    .version(VERSION)
    // Usage errors are reported by run() as one line with exit code 2.
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true)
    .option('--token-file <file>', 'file with the agent\'s API token (default: $CONCLAVE_API_TOKEN, $CONCLAVE_API_TOKEN_FILE, or apiTokenFile of the config in $CONCLAVE_CONFIG)')
    .hook('preAction', (cmd) => setTokenFile(cmd.opts<{ tokenFile?: string }>().tokenFile))
  for (const cmd of commands) cmd.register(program)
  return program
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram(await commandsFor(argv))
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
    if (['ConfigError', 'NetError', 'ApiError', 'KeyError', 'StateFileError', 'DataDirLockError', 'JournalError'].includes(err.name)) {
      process.stderr.write(`conclave: ${err.message}\n`)
      return EXIT.usage
    }
    process.stderr.write(`conclave: unexpected error: ${err.message ?? String(e)}\n`)
    if (process.env.CONCLAVE_DEBUG) process.stderr.write(`${err.stack}\n`)
    return EXIT.failed
  }
}
