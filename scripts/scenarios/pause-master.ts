// SIGSTOP the master past the detection time: a new master takes over; SIGCONT: the old one refutes its
// death and, lowest id again, becomes master under a higher term.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'pause-master',
  title: 'SIGSTOP the master past detection, then SIGCONT',
  nodes: 5,
  async run(s) {
    const m = s.lowest(s.live())!
    const before = s.monitor.termOf(m) ?? 0
    await s.fault(`pause ${m}`, () => s.cluster.pause(m))
    const others = s.live()
    await s.measure('first suspicion', () => s.anySees(m, ['suspect', 'dead'], others), { boundMs: 10_000 })
    await s.measure('dead everywhere', () => s.allSee(m, ['dead'], others), { boundMs: 20_000 })
    await s.measure('failover', () => s.agreedMaster(others) === s.lowest(others), { boundMs: 20_000 })
    const failoverTerm = s.monitor.termOf(others[0]) ?? 0
    s.check(failoverTerm > before, `the new master's term ${failoverTerm} is not above the old one ${before}`)
    await s.hold(2000)
    await s.end(`resume ${m}`, () => s.cluster.resume(m))
    await s.measure('refuted (alive everywhere)', () => s.allSee(m, ['alive']), { boundMs: 20_000, from: s.lastFaultEndAt })
    await s.measure('old master back', () => s.agreedMaster(s.live()) === m, { boundMs: 30_000, from: s.lastFaultEndAt })
    const after = s.monitor.termOf(m) ?? 0
    s.check(after > failoverTerm, `${m} is master again under term ${after}, not above the failover term ${failoverTerm}`)
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
