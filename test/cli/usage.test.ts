// Bad operator input to the new flags: exit code 2, one line naming the problem.
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Cluster, freePorts, runCli } from '../integration/harness.ts'

const cluster = new Cluster()
afterAll(() => cluster.destroy())

async function agentArgs(...extra: string[]): Promise<string[]> {
  const [p2p, api] = await freePorts(2)
  return ['agent', '--id', 'u1', '--no-mdns', '--data-dir', join(cluster.dir, 'u1'), '--listen', `/ip4/127.0.0.1/tcp/${p2p}`, '--api', `127.0.0.1:${api}`, ...extra]
}

async function expectUsage(args: string[], line: string | RegExp): Promise<void> {
  const r = await runCli(args)
  expect(r.code, r.stderr).toBe(2)
  const lines = r.stderr.trimEnd().split('\n')
  expect(lines).toHaveLength(1)
  if (typeof line === 'string') expect(lines[0]).toBe(line)
  else expect(lines[0]).toMatch(line)
}

describe('usage errors exit 2 with one line', () => {
  it('--tag without =', async () => expectUsage(await agentArgs('--tag', 'web'), `conclave: option '--tag <key=value>' argument 'web' is invalid. expected key=value, got "web"`))
  it('--tag with a bad key', async () => expectUsage(await agentArgs('--tag', 'r le=web'), 'conclave: config error: --tag[r le]: tag keys may contain only letters, digits and . _ -'))
  it('--log-format unknown', async () => expectUsage(await agentArgs('--log-format', 'xml'), 'conclave: config error: --log-format: expected one of auto, pretty, json'))
  it('tasks --limit out of range', async () => expectUsage(['tasks', '--limit', '0', '--api', '127.0.0.1:1'], 'conclave: --limit: expected an integer between 1 and 10000, got "0"'))
  it('--api malformed', async () => expectUsage(['info', '--api', 'localhost'], 'conclave: --api: expected host:port, got "localhost"'))
})
