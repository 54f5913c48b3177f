// SIGKILL the master: the others see it dead and agree on the next lowest id; restarted, it takes over again.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'kill-master',
  title: 'SIGKILL the master, then restart it',
  nodes: 5,
  async run(s) {
    const m = s.lowest(s.live())!
    await s.fault(`kill ${m}`, () => s.cluster.kill(m))
    const others = s.live()
    await s.measure('first suspicion', () => s.anySees(m, ['suspect', 'dead'], others), { boundMs: 10_000 })
    await s.measure('dead everywhere', () => s.allSee(m, ['dead'], others), { boundMs: 20_000 })
    await s.measure('failover', () => s.agreedMaster(others) === s.lowest(others), { boundMs: 20_000 })
    await s.hold(2000)
    await s.end(`restart ${m}`, () => s.cluster.restart(m))
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
