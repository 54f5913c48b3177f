// `conclave keygen`: write a new cluster key (libp2p pnet format) or, with --token, a new API token.
// The file is created with mode 0600 and never overwritten unless --force: replacing a key by accident would cut
// the node off from its cluster.
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs'
import type { Command } from 'commander'
import { CliError, EXIT } from '../errors.ts'

export function register(program: Command): void {
  program
    .command('keygen')
    .description('write a new cluster key (for --cluster-key-file) or, with --token, a new API token (for --api-token-file)')
    .option('--out <file>', 'write to this file (mode 0600) instead of standard output')
    .option('--token', 'make an API token (32 random bytes, hex) instead of a cluster key')
    .option('--add', 'append the new cluster key to an existing key file, as an accepted (not yet dialing) key: step 1 of a rotation')
    .option('--force', 'overwrite an existing file')
    .action(async (opts: { out?: string; token?: boolean; add?: boolean; force?: boolean }) => {
      // Imported here: the key code pulls in libp2p's pnet module, which other commands need not load.
      const { newKeyText, parseKeyFile } = await import('../../net/cluster-key.ts')
      const text = opts.token ? randomBytes(32).toString('hex') + '\n' : newKeyText()
      if (!opts.out) {
        if (opts.add) throw new CliError('--add needs --out <key file>', EXIT.usage)
        process.stdout.write(text)
        return
      }
      if (opts.add) {
        if (opts.token) throw new CliError('--add is for cluster keys, not tokens', EXIT.usage)
        if (!existsSync(opts.out)) throw new CliError(`--add: ${opts.out} does not exist (create it without --add)`, EXIT.usage)
        let existing: string
        try {
          existing = readFileSync(opts.out, 'utf8')
          parseKeyFile(existing, opts.out)
        } catch (e) {
          throw new CliError((e as Error).message, EXIT.usage)
        }
        writeFile(opts.out, existing.replace(/\n*$/, '\n') + text, true)
        process.stderr.write(`added a cluster key to ${opts.out}; it is accepted, the first key still dials (see docs/security.md, key rotation)\n`)
        return
      }
      if (existsSync(opts.out) && !opts.force) throw new CliError(`${opts.out} exists; pass --force to overwrite it (a cluster's nodes must share one key)`, EXIT.usage)
      writeFile(opts.out, text, opts.force === true)
      process.stderr.write(`wrote a new ${opts.token ? 'API token' : 'cluster key'} to ${opts.out} (mode 0600); copy it to every ${opts.token ? 'client and agent' : 'agent of the cluster'} over a safe channel\n`)
    })
}

function writeFile(path: string, text: string, replace: boolean): void {
  let fd: number
  try {
    fd = openSync(path, replace ? 'w' : 'wx', 0o600)
  } catch (e) {
    throw new CliError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.failed)
  }
  try {
    writeSync(fd, text)
  } finally {
    closeSync(fd)
  }
  // openSync's mode applies only to a new file: an overwritten one is narrowed too.
  chmodSync(path, 0o600)
}
