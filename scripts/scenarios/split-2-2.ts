// Split 4 agents 2|2 under quorum=majority: neither half has a majority, so nobody may have a master.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'split-2-2',
  title: 'partition 2|2 of 4, quorum=majority: no master anywhere',
  nodes: 4,
  quorum: 'majority',
  async run(s) {
    const [a, b, c, d] = s.cluster.ids()
    await s.fault(`partition ${a},${b} / ${c},${d}`, () => s.cluster.partition([[a, b], [c, d]]))
    await s.measure('no master anywhere', () => s.cluster.ids().every((x) => s.masterOf(x) === null), { boundMs: 15_000 })
    await s.hold(s.quick ? 4000 : 8000, () => {
      const bad = s.cluster.ids().find((x) => s.masterOf(x) !== null)
      return bad ? `${bad} reports master ${s.masterOf(bad)} without a majority` : null
    })
    await s.end('heal')
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
