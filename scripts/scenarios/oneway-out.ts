// Issue 13's fault matrix: nobody hears one non-master node (every packet it sends is dropped) while it hears
// everyone, for 20 s (12 s with PARTITION_QUICK). The others should declare it dead (once, measured) and
// re-admit it once after the heal; no healthy member may be declared dead. Figures per observer: lib/faults.ts.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'
import { faultReport, recovered, startViews } from '../partition/lib/faults.ts'

const scenario = defineScenario({
  name: 'oneway-out',
  title: 'one node cannot send to any other (it still receives)',
  nodes: 5,
  async run(s) {
    const x = s.cluster.ids()[2]!
    const views = await startViews(s)
    const ms = s.quick ? 12_000 : 20_000
    await s.fault(`nobody hears ${x} for ${ms / 1000} s`, () => s.cluster.onewayOut(x))
    const from = s.lastFaultAt
    const others = s.live().filter((id) => id !== x)
    const until = Date.now() + ms
    await s.measure(`${x} dead in every other view`, () => s.allSee(x, ['dead'], others), { boundMs: ms, required: false })
    await s.hold(Math.max(0, until - Date.now()), () => s.twoMasters())
    await s.end('heal')
    await recovered(s, x)
    faultReport(s, views, { faulty: [x], from })
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
