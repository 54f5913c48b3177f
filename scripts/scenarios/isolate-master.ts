// Cut the master off the network (its process keeps running): it must step down, the rest elect the next
// lowest id, and nobody ever sees two masters. Heal: the old master rejoins and takes over again.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'isolate-master',
  title: 'isolate the master with nftables, then heal',
  nodes: 5,
  async run(s) {
    const m = s.lowest(s.live())!
    await s.fault(`isolate ${m}`, () => s.cluster.isolate(m))
    const rest = s.live().filter((x) => x !== m)
    await s.measure('isolated master steps down', () => s.masterOf(m) !== m, { boundMs: 15_000 })
    await s.measure('first suspicion', () => s.anySees(m, ['suspect', 'dead'], rest), { boundMs: 10_000 })
    await s.measure('failover', () => s.agreedMaster(rest) === s.lowest(rest), { boundMs: 20_000 })
    await s.hold(s.quick ? 3000 : 6000, () => (s.masterOf(m) === m ? `${m} claims to be master while isolated` : null))
    await s.end('heal')
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
