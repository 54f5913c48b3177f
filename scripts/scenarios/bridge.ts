// Non-transitive partition: node-3 sees everyone, {node-1,node-2} and {node-4,node-5} don't see each other.
// node-1 still holds a majority of leases (1,2,3); the right side's view says node-1 is gone, but it can
// gather only 2 grants, so no second master may appear.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'bridge',
  title: 'bridge partition: 1,2 <-> 3 <-> 4,5',
  nodes: 5,
  async run(s) {
    const [n1, n2, n3, n4, n5] = s.cluster.ids()
    await s.fault(`bridge ${n1},${n2} <-> ${n3} <-> ${n4},${n5}`, () => s.cluster.bridge([n1, n2], [n3], [n4, n5]))
    await s.hold(s.quick ? 6000 : 12_000, () => {
      const two = s.twoMasters()
      if (two) return two
      const claimers = s.cluster.ids().filter((x) => s.masterOf(x) === x)
      const other = claimers.find((x) => x !== n1)
      return other && s.masterOf(n1) === n1 ? `${other} claims to be master while ${n1} still is` : null
    })
    // Indirect probes through the middle keep the far side alive in SWIM; how often they still suspected it:
    const far = s.tl.events.filter((e) => e.kind === 'member' && e.t >= s.lastFaultAt && e.state !== 'alive' &&
      (([n4, n5].includes(e.node!) && [n1, n2].includes(e.member as string)) || ([n1, n2].includes(e.node!) && [n4, n5].includes(e.member as string))))
    s.log(`across the bridge: ${far.length} suspect/dead verdicts (${far.map((e) => `${e.node}:${e.member}=${e.state}`).slice(0, 6).join(' ')})`)
    s.check(s.masterOf(n1) === n1, `${n1} (leases from ${n1},${n2},${n3}) is not master during the bridge: ${s.describeViews()}`)
    await s.end('heal')
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
