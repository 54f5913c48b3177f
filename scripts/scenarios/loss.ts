// 20% random packet loss on every node for two minutes (30 s with PARTITION_QUICK): suspicions may come
// and go, but no member may be declared dead.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'loss-20',
  title: '20% packet loss everywhere; nobody declared dead',
  nodes: 5,
  async run(s) {
    const ms = s.quick ? 30_000 : 120_000
    await s.fault(`loss 20% on all for ${ms / 1000} s`, () => s.cluster.loss(20, null))
    let ticks = 0, withMaster = 0
    await s.hold(ms, () => {
      ticks++
      if (s.agreedMaster(s.live())) withMaster++
      for (const o of s.live()) for (const x of s.live()) if (s.stateOf(o, x) === 'dead') return `${o} declared ${x} dead under 20% loss`
      return null
    })
    s.log(`all agents agreed on a master in ${((100 * withMaster) / Math.max(1, ticks)).toFixed(0)}% of the 100 ms samples under loss`)
    const suspicions = s.tl.events.filter((e) => e.kind === 'member' && e.state === 'suspect' && e.t >= s.lastFaultAt).length
    const masters = s.tl.events.filter((e) => e.kind === 'master' && e.t >= s.lastFaultAt).length
    s.log(`under loss: ${suspicions} suspicions, ${masters} master changes reported`)
    await s.end('heal')
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
