// Asymmetric partition: packets from the master never reach node-2 (the other way works). Indirect probes
// through the others keep both alive in SWIM; there is never more than one master.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'oneway',
  title: 'one-way partition master -> node-2',
  nodes: 5,
  async run(s) {
    const [m, victim] = s.cluster.ids()
    await s.fault(`oneway ${m}->${victim}`, () => s.cluster.oneway(m, victim))
    await s.hold(s.quick ? 8000 : 15_000, () => s.twoMasters())
    const rest = s.live().filter((x) => x !== victim)
    s.check(s.agreedMaster(rest) != null, `the agents outside ${victim} do not agree on a master during the one-way fault: ${s.describeViews()}`)
    const dead = s.live().filter((o) => s.live().some((x) => s.stateOf(o, x) === 'dead'))
    if (dead.length) s.log(`declared dead during the one-way fault by: ${dead.join(', ')}`)
    await s.end('heal')
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
