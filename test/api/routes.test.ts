// The operator routes of one real agent on 127.0.0.1: dashboard files, event history, the log stream's level check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster, waitFor, type AgentProc } from '../integration/harness.ts'

const cluster = new Cluster()
let agent: AgentProc
let base = ''

beforeAll(async () => {
  agent = await cluster.spawn('solo', [], ['--tag', 'role=web'])
  base = `http://127.0.0.1:${agent.spec.apiPort}`
  await waitFor('solo master', async () => (await agent.status())?.master?.id === 'solo', 30_000)
}, 40_000)
afterAll(() => cluster.destroy(), 20_000)

describe('operator routes', () => {
  it('serves the dashboard files under /ui/ and redirects / and /ui there', async () => {
    for (const path of ['/', '/ui']) {
      const r = await fetch(base + path, { redirect: 'manual' })
      expect(r.status).toBe(302)
      expect(r.headers.get('location')).toBe('/ui/')
    }
    const html = await fetch(`${base}/ui/`)
    expect(html.headers.get('content-type')).toMatch(/^text\/html/)
    const text = await html.text()
    expect(text).toContain('<script src="app.js"></script>')
    // Nothing from outside the agent: no absolute URLs in the page.
    expect(text).not.toMatch(/(src|href)="(https?:)?\/\//)
    expect((await fetch(`${base}/ui/app.js`)).headers.get('content-type')).toMatch(/^text\/javascript/)
    expect((await fetch(`${base}/ui/style.css`)).headers.get('content-type')).toMatch(/^text\/css/)
    const missing = await fetch(`${base}/ui/..%2fserver.ts`)
    expect(missing.status).toBe(404)
  })

  it('keeps recent events with increasing sequence numbers and without probes', async () => {
    const events = (await (await fetch(`${base}/v1/events/recent`)).json()) as { seq: number; type: string; time: string }[]
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['config-changed', 'became-master', 'master-changed']))
    expect(events.some((e) => e.type === 'probe')).toBe(false)
    for (let i = 1; i < events.length; i++) expect(events[i].seq).toBeGreaterThan(events[i - 1].seq)
    expect(Number.isNaN(Date.parse(events[0].time))).toBe(false)
  })

  it('info reports this node’s tags and role; the log stream refuses an unknown level', async () => {
    const info = (await (await fetch(`${base}/v1/info`)).json()) as { tags: Record<string, string>; role: string; voters: string[] }
    expect(info).toMatchObject({ tags: { role: 'web' }, role: 'master', voters: ['solo'] })
    const bad = await fetch(`${base}/v1/logs?level=loud`)
    expect(bad.status).toBe(400)
    expect(await bad.json()).toEqual({ error: 'bad-request', detail: 'level: expected one of trace, debug, info, warn, error, fatal, got "loud"' })
  })
})
