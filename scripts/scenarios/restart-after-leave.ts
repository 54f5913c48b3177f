// README's example in namespaces (mDNS, defaults): the master leaves (SIGTERM), and 4 s later starts again with the
// same data dir and no flags. It must rejoin its cluster (never found one of its own) and, lowest id again, become
// master under a higher term after the stability window; never two masters under one term (checked by the monitor).
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'restart-after-leave',
  title: 'master leaves, restarts 4 s later with the same data dir',
  nodes: 5,
  async run(s) {
    const [first, ...rest] = s.cluster.ids()
    const before = s.monitor.termOf(first) ?? 0
    await s.fault(`leave ${first}`, () => s.cluster.leave(first))
    await s.measure('failover', () => s.agreedMaster(rest) === s.lowest(rest), { boundMs: 10_000 })
    await s.sleep(4000)
    await s.end(`start ${first} again`, () => s.cluster.restart(first))
    await s.measure('rejoined as master', () => s.agreedMaster(s.cluster.ids()) === first, { boundMs: 20_000 })
    const after = s.monitor.termOf(first) ?? 0
    s.check(after > before, `${first} is master again under term ${after}, not above its earlier term ${before}`)
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
