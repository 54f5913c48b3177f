// The HTTP API on a unix socket (`--api unix:/path`, src/api/server.ts listenUnix): mode 0600, used by the CLI through
// --api or CONCLAVE_API, auth rules unchanged, a stale socket replaced, a live one refused. Real agents.
import { spawn } from 'node:child_process'
import { statSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BIN, Cluster, Proc, ROOT, waitFor } from '../integration/harness.ts'

const cluster = new Cluster()
afterAll(() => cluster.destroy())

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = new Proc(spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }))
  const timer = setTimeout(() => void p.kill(), 30_000)
  return p.exited.then((exit) => {
    clearTimeout(timer)
    return { code: exit.code, stdout: p.stdout, stderr: p.stderr }
  })
}

/** A raw request over the socket, without the CLI's header. */
function raw(socketPath: string, method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      res.resume()
      resolve(res.statusCode!)
    })
    req.once('error', reject)
    req.end()
  })
}

describe('API on a unix socket', () => {
  it('mode 0600, the CLI reaches it through --api and CONCLAVE_API, changes still need the header; stale socket replaced, live one refused', async () => {
    const sock = join(cluster.dir, 'api.sock')
    const a = await cluster.spawn('node-1', [], ['--api', `unix:${sock}`])
    const api = `unix:${sock}`
    const st = await waitFor('node-1 up on its socket', async () => {
      const r = await cli(['status', '--api', api, '--json'])
      return r.code === 0 && (JSON.parse(r.stdout) as { id: string })
    })
    expect(st.id).toBe('node-1')
    const stat = statSync(sock)
    expect(stat.isSocket()).toBe(true)
    expect(stat.mode & 0o777).toBe(0o600)
    expect(a.stderr).toMatch(/agent node-1 listening/)

    const viaEnv = await cli(['members', '--json'], { CONCLAVE_API: api })
    expect(viaEnv.code, viaEnv.stderr).toBe(0)
    expect((JSON.parse(viaEnv.stdout) as unknown[]).length).toBe(1)
    // Reads are open, changes need the client header (A1, A2), as on TCP.
    expect(await raw(sock, 'GET', '/v1/status')).toBe(200)
    expect(await raw(sock, 'POST', '/v1/leave')).toBe(401)

    // A second agent on the same socket is refused while the first answers.
    const b = await cluster.spawn('node-2', [], ['--api', api])
    expect((await b.exited).code).toBe(2)
    expect(b.stderr.trim().split('\n').pop()).toBe(`conclave: API address ${api} is already in use (another agent answers on it)`)

    // Killed hard, the first leaves its socket file behind: the next start replaces it.
    await a.kill()
    expect(statSync(sock).isSocket()).toBe(true)
    const again = cluster.start({ ...a.spec })
    await waitFor('node-1 up again on its socket', async () => (await cli(['status', '--api', api])).code === 0)
    const left = await cli(['leave', '--api', api])
    expect(left.code, left.stderr).toBe(0)
    expect((await again.exited).code).toBe(0)

    // Malformed: a relative path, for the CLI and for the agent.
    expect((await cli(['status', '--api', 'unix:api.sock'])).stderr).toBe('conclave: --api: expected unix:<absolute path>, got "unix:api.sock"\n')
    const bad = await cluster.spawn('node-3', [], ['--api', 'unix:api.sock'])
    expect((await bad.exited).code).toBe(2)
    expect(bad.stderr).toMatch(/--api: expected unix:<absolute path>, got "unix:api.sock"/)
  }, 90_000)
})
