// A new agent joins while the cluster is split 3|2, on the minority side: it must see its side, the
// minority stays without master, the majority keeps its master; after the heal all six agree.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'join-during-partition',
  title: 'a new agent joins the minority of a 3|2 split',
  nodes: 5,
  async run(s) {
    const ids = s.cluster.ids()
    const majority = ids.slice(0, 3), minority = ids.slice(3)
    await s.fault(`partition ${majority.join(',')} / ${minority.join(',')}`, () => s.cluster.partition([majority, minority]))
    await s.measure('minority without master', () => minority.every((x) => s.masterOf(x) === null), { boundMs: 15_000 })
    const joiner = 'node-6'
    await s.fault(`add ${joiner} on the side of ${minority[0]}`, () => s.cluster.add(joiner, { sameSideAs: minority[0] }))
    const side = [...minority, joiner]
    await s.measure('joiner sees its side', () => side.every((o) => side.every((x) => s.stateOf(o, x) === 'alive')), { boundMs: 30_000 })
    await s.hold(s.quick ? 3000 : 6000, () => {
      const bad = side.find((x) => s.masterOf(x) !== null)
      if (bad) return `minority agent ${bad} reports master ${s.masterOf(bad)}`
      return s.agreedMaster(majority) === majority[0] ? null : `majority lost its master: ${s.describeViews(majority)}`
    })
    s.check(!majority.some((o) => s.stateOf(o, joiner) !== null), `the majority learned of ${joiner} through the partition`)
    await s.end('heal')
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
