// The library API (src/index.ts): three agents embedded in this process, in-process handlers, submit, events.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAgent, TaskError, type ConclaveAgent } from '../../src/index.ts'
import { freePorts, waitFor } from '../integration/harness.ts'

const dir = mkdtempSync(join(tmpdir(), 'conclave-lib-'))
const agents: ConclaveAgent[] = []
const ranOn: string[] = []
const masterEvents: string[] = []

beforeAll(async () => {
  const ports = await freePorts(6)
  const handlers = {
    // Registered before the agent joins, so no forwarded task can find the type missing.
    add: { masterOnly: true, handler: (p: unknown, ctx: { nodeId: string; term: number | undefined }) => {
      ranOn.push(ctx.nodeId)
      const { a, b } = p as { a: number; b: number }
      return { sum: a + b, node: ctx.nodeId, term: ctx.term }
    } },
  }
  for (let i = 1; i <= 3; i++) {
    const a = await createAgent({
      id: `node-${i}`,
      listen: `/ip4/127.0.0.1/tcp/${ports[i * 2 - 2]}`,
      api: `127.0.0.1:${ports[i * 2 - 1]}`,
      dataDir: join(dir, `node-${i}`),
      mdns: false,
      expect: 3,
      logLevel: 'silent',
      bootstrap: i === 1 ? [] : [`/ip4/127.0.0.1/tcp/${ports[0]}`],
      handlers,
    })
    a.events.on('master', (e) => masterEvents.push(`${a.id}:${e.master?.id ?? 'none'}`))
    agents.push(a)
  }
  await waitFor('node-1 master in every view', async () => agents.every((a) => a.status().master?.id === 'node-1' && a.status().quorum.has), 45_000)
}, 60_000)

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()))
  rmSync(dir, { recursive: true, force: true })
}, 30_000)

describe('library API', () => {
  it('runs a masterOnly handler on the master wherever it is submitted, with the term as ctx.term', async () => {
    const out = await agents[2].submit('add', { a: 2, b: 3 })
    expect(out).toMatchObject({ type: 'add', node: 'node-1', attempt: 1, result: { sum: 5, node: 'node-1' } })
    expect((out.result as { term: number }).term).toBe(agents[0].status().master!.term)
    expect(ranOn).toEqual(['node-1'])
  })

  it('handle() after start registers a local type', async () => {
    for (const a of agents) a.handle('whoami', {}, (_p, ctx) => ctx.nodeId)
    expect((await agents[1].submit('whoami', null)).result).toBe('node-2')
  })

  it('submit rejects with a TaskError naming the cause; submitOutcome resolves with it', async () => {
    const err = await agents[1].submit('nope', 1).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TaskError)
    expect((err as TaskError).failure).toMatchObject({ error: 'unknown-type' })
    agents[0].handle('boom', { masterOnly: true }, () => {
      throw new Error('kaboom')
    })
    for (const a of agents.slice(1)) a.handle('boom', { masterOnly: true }, () => 'never here')
    const o = await agents[2].submitOutcome('boom', null)
    expect(o).toMatchObject({ error: 'handler-failed', node: 'node-1' })
    expect((o as { detail: string }).detail).toMatch(/kaboom/)
  })

  it('emits master events and shows the task load of every member in status()', async () => {
    expect(masterEvents).toContain('node-3:node-1')
    await waitFor('load of 3 members', async () => (agents[1].status().tasks.members as Array<{ load: unknown }>).every((m) => m.load !== null), 15_000)
    // The submitter journals what it forwarded; the master journals what it ran.
    const out = await agents[2].submit('add', { a: 1, b: 1 }, { id: 'lib-journal-1' })
    expect(agents[2].task('lib-journal-1')).toMatchObject({ state: 'succeeded', node: 'node-1', origin: 'submit' })
    expect(agents[0].task('lib-journal-1')).toMatchObject({ state: 'succeeded', node: 'node-1', origin: 'remote', outcome: out })
  })
})
