// Bad input to `conclave agent`: exit code 2 and exactly one line naming the problem, no stack trace.
import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Cluster, freePorts, runCli } from './harness.ts'

const cluster = new Cluster()
const servers: Server[] = []
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  await cluster.destroy()
})

async function occupy(): Promise<number> {
  const [port] = await freePorts(1)
  const s = createServer()
  servers.push(s)
  await new Promise<void>((res, rej) => {
    s.once('error', rej)
    s.listen(port, '127.0.0.1', () => res())
  })
  return port
}

async function expectOneLine(args: string[], pattern: RegExp): Promise<void> {
  const res = await runCli(args)
  expect(res.code, res.stderr).toBe(2)
  const lines = res.stderr.trimEnd().split('\n')
  expect(lines, res.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(pattern)
  expect(lines[0]).not.toMatch(/\bat .*:\d+:\d+/)
}

describe('conclave agent: bad input', () => {
  const base = async () => {
    const [p2p, api] = await freePorts(2)
    return ['agent', '--id', 'bad', '--no-mdns', '--data-dir', join(cluster.dir, 'bad'), '--listen', `/ip4/127.0.0.1/tcp/${p2p}`, '--api', `127.0.0.1:${api}`]
  }

  it('unknown flag', async () => {
    await expectOneLine([...(await base()), '--frobnicate'], /^conclave: unknown option '--frobnicate'/)
  })

  it('malformed multiaddr', async () => {
    await expectOneLine([...(await base()), '--bootstrap', '/ip4/127.0.0.1/tcp/notaport'], /^conclave: config error: --bootstrap\[0\]: malformed multiaddr/)
    await expectOneLine([...(await base()), '--listen', '/ip4/300.1.1.1/tcp/1'], /^conclave: config error: --listen: malformed multiaddr/)
  })

  it('invalid config field', async () => {
    const file = join(cluster.dir, 'bad.json')
    writeFileSync(file, JSON.stringify({ probeIntervalMs: 0 }))
    await expectOneLine([...(await base()), '--config', file], /^conclave: config error: probeIntervalMs: expected a positive integer$/)
    await expectOneLine([...(await base()), '--quorum', 'some'], /^conclave: config error: --quorum: expected "majority" or "none"$/)
  })

  it('libp2p port in use', async () => {
    const port = await occupy()
    const args = (await base()).map((a) => (a.startsWith('/ip4/') ? `/ip4/127.0.0.1/tcp/${port}` : a))
    await expectOneLine(args, new RegExp(`^conclave: listen address /ip4/127.0.0.1/tcp/${port} is already in use$`))
  })

  it('API port in use', async () => {
    const port = await occupy()
    const args = (await base()).map((a) => (a.startsWith('127.0.0.1:') ? `127.0.0.1:${port}` : a))
    await expectOneLine(args, new RegExp(`^conclave: API address 127.0.0.1:${port} is already in use$`))
  })

  it('status against no agent fails with one line', async () => {
    const [port] = await freePorts(1)
    const res = await runCli(['status', '--api', `127.0.0.1:${port}`])
    expect(res.code).toBe(1)
    expect(res.stderr.trimEnd().split('\n')).toHaveLength(1)
    expect(res.stderr).toMatch(/^conclave: cannot reach the agent API at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/)
  })
})
