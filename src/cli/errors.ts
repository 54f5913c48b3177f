// Errors the CLI reports as one line (`conclave: <message>`) with an exit code, never with a stack trace.

/** Exit codes of every command (README, "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** The operation failed: agent unreachable, API error, task failed, stream ended. */
  failed: 1,
  /** Usage or configuration error: bad flag, bad config file, bad address. Nothing was done. */
  usage: 2,
} as const

export class CliError extends Error {
  override name = 'CliError'
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message)
  }
}
