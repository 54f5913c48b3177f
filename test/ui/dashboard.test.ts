// The dashboard in a real browser against five real agents on 127.0.0.1: what a person sees, kept live by the event
// stream without a reload (a killed member turns dead, a killed master is replaced under a higher term).
import type { Browser, Page } from 'puppeteer-core'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { Cluster, waitFor, type AgentProc } from '../integration/harness.ts'
import { launch, openDashboard, visibleMembers, visibleText, waitOnPage } from './browser.ts'

const N = 5
const cluster = new Cluster()
let agents: AgentProc[] = []
let browser: Browser
let page: Page

beforeAll(async () => {
  const first = await cluster.spawn('node-1', [])
  const seed = `/ip4/127.0.0.1/tcp/${first.spec.p2pPort}`
  agents = [first]
  for (let i = 2; i <= N; i++) agents.push(await cluster.spawn(`node-${i}`, [seed], i === 2 ? ['--tag', 'role=web', '--tag', 'zone=a'] : []))
  browser = await launch()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await cluster.destroy()
}, 30_000)

/** On failure: what the page showed and what the agents answered. */
async function diagnostics(): Promise<void> {
  if (page) console.error('page:', await page.evaluate(() => document.body.innerText).catch((e: Error) => e.message))
  for (const a of agents) console.error(a.id, JSON.stringify(await a.status()))
  console.error(cluster.logs())
}

describe('dashboard', () => {
  it('shows the members, their roles and the master', async () => {
    onTestFailed(diagnostics)
    // Wait for the cluster first so the page is looked at in a settled state.
    await waitFor('5 alive, master node-1 at node-2', async () => {
      const s = await agents[1].status()
      return s && s.members.length === N && s.members.every((m) => m.state === 'alive') && s.master?.id === 'node-1' && s.quorum.voting === N
    }, 45_000)
    page = await openDashboard(browser, agents[1].spec.apiPort)
    await page.evaluate(() => ((window as unknown as { loadedOnce: boolean }).loadedOnce = true))
    const seen = await waitOnPage('5 alive members and master node-1', async () => {
      const m = await visibleMembers(page)
      const ids = Object.keys(m)
      return ids.length === N && ids.every((id) => m[id].state === 'alive') && (await visibleText(page, '#master')) === 'node-1' && m
    })
    expect(Object.keys(seen)).toEqual(['node-1', 'node-2', 'node-3', 'node-4', 'node-5'])
    expect(seen['node-1'].role).toBe('master')
    expect(seen['node-3'].role).toBe('voter')
    expect(seen['node-2'].self).toBe(true)
    expect(seen['node-2'].tags).toMatch(/role=web/)
    expect(seen['node-2'].tags).toMatch(/zone=a/)
    expect(await visibleText(page, '#quorum')).toBe('yes')
    expect(await visibleText(page, '#quorum-detail')).toMatch(/^5 of 5 voters visible, 3 needed/)
    expect(await visibleText(page, '#live')).toBe('live')
    // The timeline starts before the page opened: the agent keeps its recent events.
    await waitOnPage('history in the timeline', async () => /master is node-1 \(term \d+\)/.test(await visibleText(page, '#timeline')))
    expect(await visibleText(page, '#timeline')).toMatch(/member node-5 joined/)
    // The picture: one node per member, the master ringed.
    expect(await page.$$eval('#ring g[data-node]', (gs) => gs.map((g) => `${g.getAttribute('data-node')}:${g.getAttribute('data-state')}:${g.getAttribute('data-role')}`))).toEqual([
      'node-1:alive:master', 'node-2:alive:voter', 'node-3:alive:voter', 'node-4:alive:voter', 'node-5:alive:voter',
    ])
  }, 90_000)

  it('a SIGKILLed member turns dead on the page without a reload', async () => {
    onTestFailed(diagnostics)
    await agents[4].kill()
    await waitOnPage('node-5 dead', async () => (await visibleMembers(page))['node-5']?.state === 'dead')
    expect(await page.$eval('#ring g[data-node="node-5"]', (g) => g.getAttribute('data-state'))).toBe('dead')
    const timeline = await visibleText(page, '#timeline')
    expect(timeline).toMatch(/member node-5 (alive|suspect) -> dead/)
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true)
  }, 60_000)

  it('a SIGKILLed master is replaced on the page: new master, higher term, in the timeline', async () => {
    onTestFailed(diagnostics)
    const before = Number(/term (\d+)/.exec(await visibleText(page, '#master-detail'))![1])
    await agents[0].kill()
    await waitOnPage('node-1 dead and master node-2', async () => (await visibleMembers(page))['node-1']?.state === 'dead' && (await visibleText(page, '#master')) === 'node-2', 45_000)
    const after = Number(/term (\d+)/.exec(await visibleText(page, '#master-detail'))![1])
    expect(after).toBeGreaterThan(before)
    expect(await visibleText(page, '#master-detail')).toMatch(/this node/)
    expect(await visibleText(page, '#timeline')).toContain(`master is node-2 (term ${after})`)
    expect((await visibleMembers(page))['node-2'].role).toBe('master')
    // The quorum line comes from the status fetch that follows each event (250 ms later), not from the event itself.
    await waitOnPage('quorum 3 of 5', async () => /^3 of 5 voters visible, 3 needed/.test(await visibleText(page, '#quorum-detail')))
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true)
  }, 60_000)
})
