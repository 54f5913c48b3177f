// Issue 13's fault matrix: one non-master node's ingress is blocked and unblocked every 10 s for a minute
// (3 cycles of 10 s off, 10 s on; with PARTITION_QUICK 3 cycles of 5 s). It sends all along. Bounds over the
// whole toggling: no healthy member declared dead by a healthy observer, and at most two removals and two
// re-admissions of the toggled node per observer (the first deaf spell is refuted at once, then the flapping member
// is held out until it has been quiet a while). Figures per observer: lib/faults.ts.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'
import { faultReport, recovered, startViews } from '../partition/lib/faults.ts'

const scenario = defineScenario({
  name: 'ingress-toggle',
  title: "one node's ingress blocked / unblocked every 10 s",
  nodes: 5,
  async run(s) {
    const x = s.cluster.ids()[2]!
    const views = await startViews(s)
    const step = s.quick ? 5000 : 10_000
    const cycles = 3
    let from = -1
    for (let i = 1; i <= cycles; i++) {
      await s.fault(`block ingress of ${x} (cycle ${i}/${cycles}, ${step / 1000} s)`, () => s.cluster.ingress(x, 100))
      if (from < 0) from = s.lastFaultAt
      await s.hold(step)
      await s.end(`unblock ingress of ${x}`, () => s.cluster.ingress(x, 0))
      await s.hold(step)
    }
    // A core that holds a flapping member out until it has been healthy a while may take longer than after a
    // single fault: 60 s from the last unblock.
    await recovered(s, x, { boundMs: 60_000 })
    // At most one removal and one re-admission per deaf spell, and two in all: the core refutes a first death at once
    // (a healed partition must be seen within 0.5 s) and holds the node out from the second on (docs/membership.md,
    // F1), so the three spells cost two removals and two re-admissions instead of three.
    faultReport(s, views, { faulty: [x], from, maxRemovals: 2, maxReadmissions: 2 })
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
