// Entry point of the `conclave` command (bin/conclave.js imports this file).
import { run } from './program.ts'

// Commands that keep running (agent) resolve only when done; process.exit ends any lingering handles.
process.exit(await run(process.argv))
