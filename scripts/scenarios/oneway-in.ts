// Issue 13's fault matrix: one non-master node hears nobody (every packet to it is dropped) but everything it
// sends arrives, for 20 s (12 s with PARTITION_QUICK). The others may declare it dead (once) and re-admit it
// (once); what it says about them while it hears nothing must not get a healthy member declared dead.
// The one-pair case is `oneway`. Figures per observer: lib/faults.ts.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'
import { faultReport, recovered, startViews } from '../partition/lib/faults.ts'

const scenario = defineScenario({
  name: 'oneway-in',
  title: 'one node cannot receive from any other (it still sends)',
  nodes: 5,
  async run(s) {
    const x = s.cluster.ids()[2]!
    const views = await startViews(s)
    const ms = s.quick ? 12_000 : 20_000
    await s.fault(`${x} hears nobody for ${ms / 1000} s`, () => s.cluster.onewayIn(x))
    const from = s.lastFaultAt
    await s.hold(ms, () => s.twoMasters())
    await s.end('heal')
    await recovered(s, x)
    faultReport(s, views, { faulty: [x], from })
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
