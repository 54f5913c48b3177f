// Split 4 agents 2|2 under quorum=none: each half crowns its lowest id (availability over safety);
// after the heal they merge back to one master.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'split-2-2-quorum-none',
  title: 'partition 2|2 of 4, quorum=none: a master in each half',
  nodes: 4,
  quorum: 'none',
  async run(s) {
    const [a, b, c, d] = s.cluster.ids()
    await s.fault(`partition ${a},${b} / ${c},${d}`, () => s.cluster.partition([[a, b], [c, d]]))
    await s.measure('a master in each half', () => s.agreedMaster([a, b]) === a && s.agreedMaster([c, d]) === c, { boundMs: 20_000 })
    await s.hold(s.quick ? 4000 : 8000, () => (s.agreedMaster([a, b]) === a && s.agreedMaster([c, d]) === c ? null : `a half lost its master: ${s.describeViews()}`))
    await s.end('heal')
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
