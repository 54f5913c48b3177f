// Issue 13's fault matrix: one non-master node loses 80% of what it receives for a minute (30 s with
// PARTITION_QUICK); what it sends still arrives. It may be declared dead and re-admitted at most twice each (F1);
// no healthy member may be declared dead by a healthy observer. Figures per observer: lib/faults.ts.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'
import { faultReport, recovered, startViews } from '../partition/lib/faults.ts'

const scenario = defineScenario({
  name: 'ingress-loss',
  title: '80% ingress loss on one non-master node',
  nodes: 5,
  async run(s) {
    const x = s.cluster.ids()[2]!
    const views = await startViews(s)
    const ms = s.quick ? 30_000 : 60_000
    await s.fault(`80% ingress loss on ${x} for ${ms / 1000} s`, () => s.cluster.ingress(x, 80))
    const from = s.lastFaultAt
    await s.hold(ms)
    await s.end(`heal ${x}`)
    await recovered(s, x)
    // Two removals and re-admissions at most: the node's first death is refuted at once (it cannot know yet that it
    // is flapping), the second holds it out until it has been quiet for 12 s (docs/membership.md, F1).
    faultReport(s, views, { faulty: [x], from, maxRemovals: 2, maxReadmissions: 2 })
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
