// Entry of the one-file executable (dist/conclave, `npm run build:exe`). It is src/cli/main.ts without the
// top-level await, which a CommonJS bundle (the format Node 24's single executable applications run) cannot hold.
import { run } from '../../src/cli/program.ts'

run(process.argv).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`conclave: unexpected error: ${err.message}\n`)
    process.exit(1)
  },
)
