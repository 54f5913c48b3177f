// Issue 13's fault matrix: SIGKILL the master and one other member at the same moment. Both must be dead in
// every live view, the three survivors (still a majority of the five voters) must agree on a master (the
// lowest live id), and no healthy member may be declared dead on the way. Then both restart.
// Figures per observer: lib/faults.ts.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'
import { faultReport, startViews } from '../partition/lib/faults.ts'

const scenario = defineScenario({
  name: 'crash-two',
  title: 'SIGKILL the master and one other member at once',
  nodes: 5,
  async run(s) {
    const ids = s.cluster.ids()
    const m = s.lowest(s.live())!
    const y = ids[3]!
    const views = await startViews(s)
    await s.fault(`kill ${m},${y}`, () => { s.cluster.kill(m); s.cluster.kill(y) })
    const from = s.lastFaultAt
    const rest = s.live()
    await s.measure('first suspicion', () => s.anySees(m, ['suspect', 'dead'], rest) || s.anySees(y, ['suspect', 'dead'], rest), { boundMs: 10_000 })
    await s.measure('both dead everywhere', () => s.allSee(m, ['dead'], rest) && s.allSee(y, ['dead'], rest), { boundMs: 20_000 })
    const dead = views.allReached(m, ['dead'], rest, from)
    const deadY = views.allReached(y, ['dead'], rest, from)
    if (dead !== null && deadY !== null) s.log(`dead in every live view (event streams): ${m} after ${((dead - from) / 1000).toFixed(2)} s, ${y} after ${((deadY - from) / 1000).toFixed(2)} s`)
    await s.measure('failover', () => s.agreedMaster(rest) === s.lowest(rest), { boundMs: 20_000 })
    await s.hold(s.quick ? 2000 : 5000, () => (s.agreedMaster(rest) === s.lowest(rest) ? null : `the survivors lost their master: ${s.describeViews()}`))
    faultReport(s, views, { faulty: [], crashed: [m, y], from })
    await s.end(`restart ${m},${y}`, async () => { await s.cluster.restart(m); await s.cluster.restart(y) })
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
