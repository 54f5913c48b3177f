// Issue 13's fault matrix: one non-master node loses 80% of what it receives for a minute (30 s with
// PARTITION_QUICK); what it sends still arrives. It may be declared dead and re-admitted once by each observer (F2);
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
    // Held out until 12 s after its last unanswered probe (docs/membership.md, F1 by itself and F2 by each observer),
    // then a state exchange to take it back: 20 s, as against 15 s after a single fault.
    await recovered(s, x, { boundMs: 20_000 })
    // One removal and one re-admission: the node's refutation reaches each observer through the others while the
    // observer's own probes of it still fail, so the observer holds it until one is answered (F2): after the fault.
    faultReport(s, views, { faulty: [x], from, maxRemovals: 1, maxReadmissions: 1 })
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
