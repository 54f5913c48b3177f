// The operator's commands against real agents on 127.0.0.1: members (one screen, marks, tags), info, tasks <id>,
// monitor (a kill shows up as words while it streams), CONCLAVE_API, and the exit codes.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { BIN, Cluster, Proc, ROOT, runCli, waitFor, type AgentProc } from '../integration/harness.ts'

const cluster = new Cluster()
let agents: AgentProc[] = []
const api = (a: AgentProc) => `127.0.0.1:${a.spec.apiPort}`
let config = ''
let hookLog = ''

/** Like runCli, with extra environment. */
async function runWithEnv(args: string[], env: Record<string, string>, timeoutMs = 30_000) {
  const p = new Proc(spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }))
  const timer = setTimeout(() => void p.kill(), timeoutMs)
  const exit = await p.exited
  clearTimeout(timer)
  return { code: exit.code, stdout: p.stdout, stderr: p.stderr }
}

beforeAll(async () => {
  config = join(cluster.dir, 'config.json')
  hookLog = join(cluster.dir, 'hooks.log')
  // Every role and member hook appends one line: "<node> <event> <member ids>".
  const hook = ['sh', '-c', `echo "$CONCLAVE_NODE_ID $CONCLAVE_EVENT $CONCLAVE_MEMBERS" >> ${hookLog}`]
  writeFileSync(
    config,
    JSON.stringify({
      tasks: { echo: { command: ['sh', '-c', 'cat'] }, fail: { command: ['sh', '-c', 'echo broken >&2; exit 3'] } },
      on: { master: hook, backup: hook, fault: hook, memberFail: hook },
    }),
  )
  const first = await cluster.spawn('n1', [], ['--config', config, '--tag', 'role=db'])
  const seed = `/ip4/127.0.0.1/tcp/${first.spec.p2pPort}`
  agents = [first]
  for (let i = 2; i <= 5; i++) agents.push(await cluster.spawn(`n${i}`, [seed], ['--config', config, '--tag', 'role=web', '--tag', `rack=r${i}`]))
  await waitFor('5 alive, 5 voters, master n1', async () => {
    const s = await agents[1].status()
    return s && s.members.length === 5 && s.members.every((m) => m.state === 'alive') && s.master?.id === 'n1' && s.quorum.voting === 5
  }, 45_000)
}, 60_000)

afterAll(async () => {
  await cluster.destroy()
}, 30_000)

describe('conclave CLI against five agents', () => {
  it('members fits 80 columns, marks this node and the master, shows tags and short peer ids', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const r = await runCli(['members', '--api', api(agents[1])])
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    for (const l of lines) expect([...l].length, l).toBeLessThanOrEqual(80)
    expect(lines[0]).toMatch(/^ID\s+STATE\s+ROLE\s+INC\s+SINCE\s+TAGS\s+PEER$/)
    expect(lines.find((l) => l.startsWith('n1 '))).toMatch(/^n1\s+alive\s+master\s/)
    expect(lines.find((l) => l.startsWith('n2*'))).toMatch(/^n2\*\s+alive\s+voter\s.*role=web,rack=r2\s+…\w{6}$/)
    expect(lines.at(-1)).toBe('* this node')
    // No row repeats a full peer id.
    const s = (await agents[1].status())!
    for (const m of s.members) expect(r.stdout).not.toContain(m.peerId)

    const wide = await runCli(['members', '--wide', '--api', api(agents[1])])
    expect(wide.code, wide.stderr).toBe(0)
    for (const m of s.members) expect(wide.stdout).toContain(m.peerId)
    const json = await runCli(['members', '--json', '--api', api(agents[1])])
    expect((JSON.parse(json.stdout) as { id: string }[]).map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3', 'n4', 'n5'])
  })

  it('CONCLAVE_API points the CLI at an agent; --api wins over it; a bad value is a usage error', async () => {
    const viaEnv = await runWithEnv(['info', '--json'], { CONCLAVE_API: api(agents[2]) })
    expect(viaEnv.code, viaEnv.stderr).toBe(0)
    expect(JSON.parse(viaEnv.stdout).id).toBe('n3')
    const flagWins = await runWithEnv(['info', '--json', '--api', api(agents[3])], { CONCLAVE_API: api(agents[2]) })
    expect(JSON.parse(flagWins.stdout).id).toBe('n4')
    const bad = await runWithEnv(['members'], { CONCLAVE_API: 'nonsense' })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toBe('conclave: CONCLAVE_API: expected host:port, got "nonsense"\n')
  })

  it('info names the version, ids, files, ports, uptime and counters', async () => {
    const a = agents[1]
    const r = await runCli(['info', '--api', api(a)])
    expect(r.code, r.stderr).toBe(0)
    const s = (await a.status())!
    expect(r.stdout).toMatch(/^version +0\.1\.0 \(node v\d+/m)
    expect(r.stdout).toMatch(/^id +n2$/m)
    expect(r.stdout).toContain(`peer id      ${s.peerId}`)
    expect(r.stdout).toMatch(/^role +voter \(term \d+/m)
    expect(r.stdout).toMatch(/^voters +n1, n2, n3, n4, n5$/m)
    expect(r.stdout).toMatch(/^tags +role=web,rack=r2$/m)
    expect(r.stdout).toMatch(/^uptime +\d+/m)
    expect(r.stdout).toContain(`config file  ${config}`)
    expect(r.stdout).toContain(`data dir     ${a.spec.dataDir}`)
    expect(r.stdout).toContain(`listen       /ip4/127.0.0.1/tcp/${a.spec.p2pPort}`)
    expect(r.stdout).toContain(`api          127.0.0.1:${a.spec.apiPort}`)
    expect(r.stdout).toMatch(/^ {2}messages_sent +[1-9]\d*$/m)
  })

  it('tasks <id> shows one task; an unknown id fails with exit 1', async () => {
    const a = agents[2]
    const ok = await runCli(['submit', 'echo', '--payload', '{"x":1}', '--id', 'cli-one', '--api', api(a)])
    expect(ok.code, ok.stderr).toBe(0)
    const r = await runCli(['tasks', 'cli-one', '--api', api(a)])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^id +cli-one$/m)
    expect(r.stdout).toMatch(/^state +succeeded$/m)
    expect(r.stdout).toMatch(/^node +n3$/m)
    expect(r.stdout).toMatch(/^result +\{"x":1\}$/m)
    const json = await runCli(['tasks', 'cli-one', '--json', '--api', api(a)])
    expect(JSON.parse(json.stdout)).toMatchObject({ id: 'cli-one', state: 'succeeded', outcome: { result: { x: 1 } } })

    const failed = await runCli(['submit', 'fail', '--id', 'cli-two', '--api', api(a)])
    expect(failed.code).toBe(1)
    const shown = await runCli(['tasks', 'cli-two', '--api', api(a)])
    expect(shown.stdout).toMatch(/^error +handler-failed: /m)
    expect(shown.stdout).toMatch(/^stderr +broken$/m)

    const missing = await runCli(['tasks', 'no-such-task', '--api', api(a)])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe('conclave: not-found: no task with id "no-such-task" on this agent\n')
  })

  it('submit --where places a task on a member with the tag; no match fails with no-match (exit 1)', async (ctx) => {
    onTestFailed(() => console.error(cluster.logs()))
    const [n1, n2] = agents
    const here = await runCli(['submit', 'echo', '--payload', '1', '--where', 'role=db', '--json', '--api', api(n1)])
    expect(here.code, here.stderr).toBe(0)
    expect(JSON.parse(here.stdout)).toMatchObject({ node: 'n1', result: 1 })
    const none = await runCli(['submit', 'echo', '--where', 'role=cache', '--timeout', '1500', '--api', api(n2)])
    expect(none.code).toBe(1)
    expect(JSON.parse(none.stdout)).toMatchObject({ error: 'no-match', detail: expect.stringMatching(/^no live member with tags role=cache that runs this type/) })
    const usage = await runCli(['submit', 'echo', '--where', 'bad', '--api', api(n2)])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toMatch(/^conclave: option '--where <key=value>' argument 'bad' is invalid\. expected key=value, got "bad"/)
    // Across nodes the tags must travel with membership (core tag gossip); without it only this node's own tags are known.
    const gossiped = (await n2.status())!.members.some((m) => m.id === 'n3' && (m as { tags?: Record<string, string> }).tags?.rack === 'r3')
    if (!gossiped) return ctx.skip('this core does not gossip tags yet: cross-node --where is not testable')
    const there = await runCli(['submit', 'echo', '--payload', '2', '--where', 'rack=r3', '--json', '--api', api(n2)])
    expect(there.code, there.stderr).toBe(0)
    expect(JSON.parse(there.stdout)).toMatchObject({ node: 'n3', result: 2 })
  }, 30_000)

  it('monitor streams log lines in words: a killed member appears as it happens; Ctrl-C ends it with exit 0', async () => {
    onTestFailed(() => console.error(cluster.logs()))
    const watcher = agents[1]
    const mon = new Proc(spawn(process.execPath, [BIN, 'monitor', '--api', api(watcher)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }))
    const json = new Proc(spawn(process.execPath, [BIN, 'monitor', '--json', '--level', 'debug', '--api', api(watcher)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }))
    try {
      // Both streams are open once the debug one shows a probe (the agent logs probes only at debug).
      await waitFor('a probe on the debug monitor', async () => json.stdout.includes('"event":"probe"'), 20_000)
      await agents[4].kill()
      await waitFor('n5 dead on the monitor', async () => /^\d\d:\d\d:\d\d\.\d{3} WARN  n2 member n5 (alive|suspect) -> dead$/m.test(mon.stdout), 30_000)
      expect(mon.stdout).not.toMatch(/probe/)
      const records = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event?: string; member?: string; state?: string; level: number })
      await waitFor('n5 dead as JSON', async () => json.stdout.includes('"state":"dead"'), 10_000)
      expect(records.some((r) => r.event === 'probe' && r.level === 20)).toBe(true)
      mon.signal('SIGINT')
      expect((await mon.exited).code).toBe(0)
      expect(mon.stderr).toBe('')
    } finally {
      await mon.kill()
      await json.kill()
    }
  }, 60_000)

  it('role hooks: the master ran master, the others backup; the kill of n5 ran member-failed everywhere; runs are in /metrics', async () => {
    onTestFailed(() => console.error(cluster.logs(), existsSync(hookLog) ? readFileSync(hookLog, 'utf8') : 'no hook log'))
    const lines = () => (existsSync(hookLog) ? readFileSync(hookLog, 'utf8').trim().split('\n').map((l) => l.trimEnd()) : [])
    await waitFor('member-failed n5 on n1-n4', async () => ['n1', 'n2', 'n3', 'n4'].every((id) => lines().includes(`${id} member-failed n5`)), 20_000)
    const lastRole = (id: string) => lines().filter((l) => new RegExp(`^${id} (master|backup|fault)$`).test(l)).at(-1)
    expect(lastRole('n1')).toBe('n1 master')
    for (const id of ['n2', 'n3', 'n4']) expect(lastRole(id)).toBe(`${id} backup`)
    const metrics = await agents[0].metrics()
    expect(metrics).toMatch(/^conclave_hook_runs_total\{event="master",exit_code="0"\} 1$/m)
    expect(metrics).toMatch(/^conclave_hook_runs_total\{event="memberFail",exit_code="0"\} 1$/m)
  }, 30_000)

  it('monitor exits 1 when the agent goes away; a bad level is a usage error', async () => {
    const target = agents[3]
    const mon = new Proc(spawn(process.execPath, [BIN, 'monitor', '--api', api(target)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }))
    try {
      await new Promise((r) => setTimeout(r, 1_500))
      const left = await runCli(['leave', '--json', '--api', api(target)])
      expect(JSON.parse(left.stdout)).toMatchObject({ ok: true, id: 'n4' })
      const exit = await mon.exited
      expect(exit.code).toBe(1)
      expect(mon.stdout).toMatch(/left the cluster/)
      expect(mon.stderr).toMatch(/^conclave: the agent at 127\.0\.0\.1:\d+ closed the stream/)
    } finally {
      await mon.kill()
    }
    const bad = await runCli(['monitor', '--level', 'loud', '--api', api(agents[1])])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^conclave: option '--level <level>' argument 'loud' is invalid/)
  }, 30_000)
})
