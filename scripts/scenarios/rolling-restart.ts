// Restart every agent in turn (SIGTERM, then start with the same data dir), waiting for agreement each time.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'rolling-restart',
  title: 'rolling restart of every agent',
  nodes: 5,
  async run(s) {
    for (const id of [...s.cluster.ids()].reverse()) {
      await s.fault(`restart ${id}`, () => s.cluster.restart(id))
      s.lastFaultEndAt = s.lastFaultAt
      await s.converge(45_000, `rejoin ${id}`)
    }
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
