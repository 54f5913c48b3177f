// Errors the CLI reports as one line (`conclave: <message>`) with an exit code, never with a stack trace.
export class CliError extends Error {
  override name = 'CliError'
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message)
  }
}
