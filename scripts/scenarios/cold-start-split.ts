// A cold start without --expect split 2|3 by the network: every agent starts with an empty data dir while the
// partition is in force, so each side bootstraps a cluster of its own after the discovery window (the minority's
// two voters elect a master too: they cannot know of the others). On heal the two clusters meet: the younger one
// steps down and merges into the older, and one master remains, under a term above every term either side used.
import { defineScenario, runIfMain } from '../partition/lib/scenario.ts'

const scenario = defineScenario({
  name: 'cold-start-split',
  title: 'cold start (no --expect) under a 2|3 partition, then heal: two clusters merge into one',
  nodes: 5,
  lineages: 'several',
  async run(s) {
    const ids = s.cluster.ids()
    const minority = ids.slice(0, 2)
    const majority = ids.slice(2)
    for (const id of ids) await s.cluster.leave(id)
    for (const id of ids) {
      s.cluster.wipe(id)
      s.monitor.forget(id)
    }
    s.cluster.partition([minority, majority])
    await s.fault('cold start under partition 2|3', async () => {
      for (const id of ids) await s.cluster.restart(id)
    })
    await s.measure('a master in each half', () => s.agreedMaster(minority) === s.lowest(minority) && s.agreedMaster(majority) === s.lowest(majority), { boundMs: 30_000 })
    const clusterOf = (id: string) => s.monitor.status(id)?.clusterId ?? null
    s.check(clusterOf(minority[0]) !== clusterOf(majority[0]), 'the two halves should have founded two clusters')
    // The older cluster survives (lineage.ts C3: cluster ids start with their birth time).
    const born = [clusterOf(minority[0]), clusterOf(majority[0])].filter((c): c is string => c !== null).sort()
    const survivor = born[0] ?? null
    const maxTerm = Math.max(...ids.map((id) => s.monitor.termOf(id) ?? 0))
    await s.end('heal')
    // The clusters meet when the first message crosses (after mDNS finds the other side), and the first agent that
    // merges shows it. From then on masterOnly runs must never overlap again.
    const before = new Map(ids.map((id) => [id, clusterOf(id)]))
    await s.measure('clusters met', () => ids.some((id) => clusterOf(id) !== before.get(id)), { boundMs: 20_000 })
    s.checkTasksFrom = Date.now()
    await s.measure('merged into one cluster', () => ids.every((id) => clusterOf(id) === survivor), { boundMs: 20_000 })
    await s.measure('one master', () => s.agreedMaster(ids) === s.lowest(ids), { boundMs: 20_000 })
    const term = s.monitor.termOf(ids[0]) ?? 0
    s.check(term > maxTerm, `the merged cluster's master holds term ${term}, not above every earlier term (${maxTerm})`)
  },
})
export default scenario
await runIfMain(import.meta.url, scenario)
