// The installable package runs compiled code: the bin runs the bundled CLI in dist/bundle/ and the library entry
// is dist/index.js (both built by the vitest globalSetup, as by `npm run build`), with no TypeScript loader in the
// process, and the client commands do not load the agent's code (libp2p, fastify: the bundle's agent chunk).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BIN, ROOT, freePorts } from '../integration/harness.ts'

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs plain `node <args>` (no loader, no NODE_OPTIONS), bounded to 20 s. */
function node(args: string[], opts: { cwd?: string } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const env = { ...process.env }
    delete env.NODE_OPTIONS
    const child = spawn(process.execPath, args, { cwd: opts.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/**
 * A preload that prints every module URL the process loads to stderr (module.registerHooks, Node >= 22.15), so a
 * test can see which files a command pulled in.
 */
const TRACE_LOADS =
  'data:text/javascript,' +
  encodeURIComponent(
    `import { registerHooks } from 'node:module'
registerHooks({ load(url, context, next) { process.stderr.write('LOAD ' + url + '\\n'); return next(url, context) } })`,
  )

const loaded = (r: Ran) => r.stderr.split('\n').filter((l) => l.startsWith('LOAD ')).map((l) => l.slice(5))

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** A Node older than the package's minimum, if the system has one (Debian 12's is 20): the bin must refuse it. */
const OLD_NODE = '/usr/bin/node'
const oldNodeMajor = existsSync(OLD_NODE) ? Number(spawnSync(OLD_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.split('.')[0]) : null

describe('compiled package', () => {
  it.skipIf(oldNodeMajor === null || oldNodeMajor >= 22)('on an older Node the bin prints one line and exits 2', () => {
    const r = spawnSync(OLD_NODE, [BIN, '--version'], { encoding: 'utf8', timeout: 20_000 })
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^conclave: needs Node\.js >= 22\.13, this is v\d+\.\d+\.\d+\n$/)
    expect(pkg.engines.node).toBe('>=22.13.0') // the same minimum as the bin's check
  })

  it('the bin prints the version from the bundle in dist/, loading no TypeScript file', async () => {
    const r = await node(['--import', TRACE_LOADS, BIN, '--version'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(pkg.version)
    const files = loaded(r).filter((u) => u.startsWith('file:'))
    expect(files.some((u) => u.endsWith('/dist/bundle/main.js'))).toBe(true)
    expect(files.filter((u) => /\.[cm]?ts$/.test(u))).toEqual([])
    expect(files.filter((u) => u.includes('/node_modules/tsx/'))).toEqual([])
  })

  it('the unbundled compiled CLI, dist/cli/main.js, runs too', async () => {
    const r = await node(['dist/cli/main.js', '--version'])
    expect(r).toMatchObject({ code: 0, stdout: `${pkg.version}\n` })
  })

  it("status, members and --version do not load the agent's code", async () => {
    for (const args of [['--version'], ['status', '--api', '127.0.0.1:1'], ['members', '--api', '127.0.0.1:1']]) {
      const r = await node(['--import', TRACE_LOADS, BIN, ...args])
      // Nothing listens on port 1: the client reports it and exits 1 (the version prints and exits 0).
      expect(r.code).toBe(args[0] === '--version' ? 0 : 1)
      const heavy = loaded(r).filter((u) => /\/node_modules\/|\/dist\/bundle\/agent-/.test(u))
      expect(heavy, `conclave ${args.join(' ')}`).toEqual([])
    }
  })

  it('the agent command does load them (the check above can fail)', async () => {
    const r = await node(['--import', TRACE_LOADS, BIN, 'agent', '--quorum', 'nonsense'])
    expect(r.code).toBe(2)
    expect(loaded(r).some((u) => u.includes('/dist/bundle/agent-'))).toBe(true)
  })

  it("the package entry ('conclave', as a consumer imports it) resolves to dist/index.js with types, and runs an agent", async () => {
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' })
    const dataDir = mkdtempSync(join(tmpdir(), 'conclave-pkg-'))
    dirs.push(dataDir)
    const [p2p, api] = await freePorts(2)
    const script = `
      import * as conclave from 'conclave'
      console.log(JSON.stringify({ url: import.meta.resolve('conclave'), exports: Object.keys(conclave).sort() }))
      const agent = await conclave.createAgent({ id: 'pkg-1', listen: '/ip4/127.0.0.1/tcp/${p2p}', api: '127.0.0.1:${api}',
        dataDir: ${JSON.stringify(dataDir)}, mdns: false, logLevel: 'silent' })
      console.log(JSON.stringify({ id: agent.status().id }))
      await agent.stop()
      process.exit(0)`
    const r = await node(['--input-type=module', '-e', script])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const [entry, running] = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(entry.url).toBe(`file://${ROOT}/dist/index.js`)
    expect(entry.exports).toEqual(['TaskError', 'createAgent'])
    expect(running).toEqual({ id: 'pkg-1' })
  })

  it('the published files hold dist/, bin/, the README and the licence, and no tests or scripts', async () => {
    const r = await new Promise<Ran>((resolve) => {
      const child = spawn('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
      child.once('exit', (code) => resolve({ code, stdout, stderr: '' }))
    })
    expect(r.code).toBe(0)
    const files: string[] = JSON.parse(r.stdout)[0].files.map((f: { path: string }) => f.path)
    expect(files).toEqual(expect.arrayContaining(['bin/conclave.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'README.md', 'LICENSE', 'package.json', 'packaging/conclave.service']))
    expect(files.filter((f) => !/^(dist|bin|packaging)\/|^(README\.md|LICENSE|package\.json)$/.test(f))).toEqual([])
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([])
    expect(files).not.toContain('dist/conclave')
  })
})
