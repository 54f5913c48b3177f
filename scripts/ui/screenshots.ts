// Screenshots of the dashboard for the docs: five real agents on 127.0.0.1 (no mDNS, temp data dirs), seen from
// node-2, before and after the master (node-1) is SIGKILLed, then after two more members die and node-2 loses its
// quorum (what the minority side of a partition looks like). Writes docs/img/dashboard-{before,after,no-quorum}.png.
//   npx tsx scripts/ui/screenshots.ts
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Cluster, ROOT, waitFor } from '../../test/integration/harness.ts'
import { launch, openDashboard, visibleMembers, visibleText, waitOnPage } from '../../test/ui/browser.ts'

const OUT = join(ROOT, 'docs/img')
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms))

const cluster = new Cluster()
const browser = await launch()
try {
  const config = join(cluster.dir, 'tasks.json')
  writeFileSync(config, JSON.stringify({ tasks: { 'disk-report': { command: ['sh', '-c', 'cat >/dev/null; sleep 1; echo \'{"freeGiB": 41}\''] } } }))
  const tags: Record<string, string[]> = { 'node-1': ['role=db'], 'node-2': ['role=web', 'zone=a'], 'node-3': ['role=web', 'zone=b'], 'node-4': ['role=worker'], 'node-5': ['role=worker'] }
  const first = await cluster.spawn('node-1', [], ['--config', config, ...tags['node-1'].flatMap((t) => ['--tag', t])])
  const seed = `/ip4/127.0.0.1/tcp/${first.spec.p2pPort}`
  const agents = [first]
  for (let i = 2; i <= 5; i++) agents.push(await cluster.spawn(`node-${i}`, [seed], ['--config', config, ...tags[`node-${i}`].flatMap((t) => ['--tag', t])]))
  const watcher = agents[1]
  await waitFor('5 alive, 5 voters, master node-1', async () => {
    const s = await watcher.status()
    return s && s.members.length === 5 && s.members.every((m) => m.state === 'alive') && s.master?.id === 'node-1' && s.quorum.voting === 5
  }, 60_000)

  // Load reports travel by gossip (on change, else every 15 s): wait until node-2 has one from everyone.
  await waitFor('load reports from all five', async () => {
    const plugins = (await (await fetch(`http://127.0.0.1:${watcher.spec.apiPort}/v1/plugins`)).json()) as { tasks?: { members?: { load: unknown }[] } }
    return plugins.tasks?.members?.length === 5 && plugins.tasks.members.every((m) => m.load !== null)
  }, 40_000)
  const page = await openDashboard(browser, watcher.spec.apiPort, 1280, 960)
  const api = `http://127.0.0.1:${watcher.spec.apiPort}`
  for (let i = 0; i < 3; i++) {
    await fetch(`${api}/v1/tasks?async=1`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-conclave-client': 'test' }, body: JSON.stringify({ type: 'disk-report', payload: { disk: `/dev/sd${'abc'[i]}` } }) })
  }
  await settle(1_500)
  await waitOnPage('5 members', async () => Object.keys(await visibleMembers(page)).length === 5)
  await page.screenshot({ path: join(OUT, 'dashboard-before.png'), fullPage: true })

  await agents[0].kill()
  await waitOnPage('master node-2', async () => (await visibleText(page, '#master')) === 'node-2' && (await visibleMembers(page))['node-1']?.state === 'dead', 45_000)
  await settle(1_500)
  await page.screenshot({ path: join(OUT, 'dashboard-after.png'), fullPage: true })

  await agents[2].kill()
  await agents[3].kill()
  await waitOnPage('no quorum', async () => (await visibleText(page, '#quorum')) === 'NO', 45_000)
  await settle(1_500)
  await page.screenshot({ path: join(OUT, 'dashboard-no-quorum.png'), fullPage: true })
  console.log(`wrote ${OUT}/dashboard-{before,after,no-quorum}.png`)
} finally {
  await browser.close()
  await cluster.destroy()
}
