// Split 5 agents 2|3 with the master in the minority: the majority keeps (elects) a master, the minority has none.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'split-2-3',
  title: 'partition 2|3, master in the minority',
  nodes: 5,
  async run(s) {
    const [a, b, ...majority] = s.cluster.ids()
    const minority = [a, b]
    await s.fault(`partition ${minority.join(',')} / ${majority.join(',')}`, () => s.cluster.partition([minority, majority]))
    await s.measure('minority without master', () => minority.every((x) => s.masterOf(x) === null), { boundMs: 15_000 })
    await s.measure('majority failover', () => s.agreedMaster(majority) === s.lowest(majority), { boundMs: 20_000 })
    await s.hold(s.quick ? 4000 : 8000, () => {
      const bad = minority.find((x) => s.masterOf(x) !== null)
      if (bad) return `minority agent ${bad} reports master ${s.masterOf(bad)}`
      return s.agreedMaster(majority) === s.lowest(majority) ? null : `majority lost its master: ${s.describeViews(majority)}`
    })
    await s.end('heal')
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
