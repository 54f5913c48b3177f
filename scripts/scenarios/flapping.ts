// A flapping link: the master's link goes down and up every few seconds for a minute (20 s with
// PARTITION_QUICK). Terms never go backwards, never two masters, and after the last heal all agree.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'flapping',
  title: "the master's link flaps (isolate/heal every 3 s)",
  nodes: 5,
  async run(s) {
    const m = s.lowest(s.live())!
    const total = s.quick ? 20_000 : 60_000
    const until = Date.now() + total
    let flaps = 0
    while (Date.now() < until) {
      await s.fault(`isolate ${m} (flap ${++flaps})`, () => s.cluster.isolate(m))
      await s.hold(3000)
      await s.end('heal', () => s.cluster.heal())
      await s.hold(3000)
    }
    const changes = s.tl.events.filter((e) => e.kind === 'master' && e.node !== m).length
    s.log(`${flaps} flaps in ${total / 1000} s; ${changes} master changes reported by the other agents`)
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
