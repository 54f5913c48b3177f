// One benchmark agent: a real process running the library API (createAgent from the package entry, i.e. the
// compiled dist/index.js; this file runs on Node's own type stripping, with no TypeScript loader) with
// an in-process no-op handler (`noop-mod`, masterOnly; `noop-mod-local`) and command handlers from the config
// (`noop-cmd`, masterOnly; `noop-cmd-local`). Used by scripts/bench/tasks.ts.
// usage: tasks-agent.ts <id> <p2pPort> <apiPort> <dataDir> [bootstrap...]
import { createAgent } from 'conclave'

const [id, p2p, api, dataDir, ...bootstrap] = process.argv.slice(2)
if (!id || !p2p || !api || !dataDir) {
  console.error('usage: tasks-agent.ts <id> <p2pPort> <apiPort> <dataDir> [bootstrap...]')
  process.exit(2)
}
const bench = { concurrency: 16, maxQueued: 1000, timeoutMs: 10_000 }
const agent = await createAgent({
  id,
  listen: `/ip4/127.0.0.1/tcp/${p2p}`,
  api: `127.0.0.1:${api}`,
  dataDir,
  mdns: false,
  // No agent crowns itself before it has seen the other two (as a real 3-host deployment would run).
  expect: 3,
  bootstrap,
  logLevel: 'warn',
  tasks: {
    'noop-cmd': { ...bench, masterOnly: true, command: ['true'] },
    'noop-cmd-local': { ...bench, command: ['true'] },
  },
  handlers: {
    'noop-mod': { ...bench, masterOnly: true, handler: () => null },
    'noop-mod-local': { ...bench, handler: () => null },
  },
})
const stop = () => {
  setTimeout(() => process.exit(0), 2_500).unref()
  void agent.stop().then(() => process.exit(0))
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
