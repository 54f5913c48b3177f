// Task benchmark (not a test): three real agent processes on 127.0.0.1 (scripts/bench/tasks-agent.ts, the library
// API), a driver submitting through the HTTP API of node-2 (not the master).
//   1. forwarded masterOnly tasks (node-2 -> master node-1) vs the same tasks run locally on node-2,
//      with a no-op module handler and a no-op command handler (`true`), from 1, 4 and 16 concurrent submitters:
//      tasks/s and p50/p99 latency of the whole HTTP submit;
//   2. time from a SIGKILL of the master to the first successful masterOnly task (a submitter loops on node-2).
// Writes docs/bench-tasks.md. Reproduce: `npx tsx scripts/bench/tasks.ts` (or `npm run bench -- tasks`).
// Options: --duration <ms per run> (default 4000) --repeat <runs per row, best reported> (default 2)
// --rounds <failover rounds> (default 3) --out <file>.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../..')
const args = process.argv.slice(2)
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] ? args[i + 1] : def
}
const DURATION = Number(opt('duration', '4000'))
const MAX_PER_CELL = 20_000
const ROUNDS = Number(opt('rounds', '3'))
/** Each row is measured this many times and the run with the highest throughput is reported (the machine is shared). */
const REPEAT = Number(opt('repeat', '2'))
const OUT = resolve(root, opt('out', 'docs/bench-tasks.md'))

interface Proc {
  id: string
  p2p: number
  api: number
  dataDir: string
  bootstrap: string[]
  child: ChildProcess
  exited: Promise<void>
}

const dir = mkdtempSync(join(tmpdir(), 'conclave-bench-tasks-'))
const procs: Proc[] = []

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port
      s.close(() => res(p))
    })
  })
}

function launch(id: string, p2p: number, api: number, dataDir: string, bootstrap: string[]): Proc {
  const child = spawn(process.execPath, [join(here, 'tasks-agent.ts'), id, String(p2p), String(api), dataDir, ...bootstrap], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const p = { id, p2p, api, dataDir, bootstrap, child, exited }
  procs.push(p)
  return p
}

async function status(p: Proc): Promise<{ master: { id: string; term: number } | null; quorum: { has: boolean } } | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${p.api}/v1/status`, { signal: AbortSignal.timeout(2_000) })
    return r.ok ? ((await r.json()) as never) : null
  } catch {
    return null
  }
}

async function waitFor(what: string, f: () => Promise<boolean>, ms: number): Promise<void> {
  const end = performance.now() + ms
  while (performance.now() < end) {
    if (await f().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

async function masterIs(among: Proc[], id: string, ms = 60_000): Promise<void> {
  await waitFor(`${id} master everywhere`, async () => (await Promise.all(among.map(status))).every((s) => s?.master?.id === id && s.quorum.has), ms)
}

async function submit(p: Proc, type: string, timeoutMs = 10_000): Promise<{ ok: boolean; node?: string; attempt?: number; error?: string }> {
  const r = await fetch(`http://127.0.0.1:${p.api}/v1/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-conclave-client': 'test' },
    body: JSON.stringify({ type, payload: { n: 1 }, timeoutMs }),
    signal: AbortSignal.timeout(timeoutMs + 10_000),
  })
  const body = (await r.json()) as { node?: string; attempt?: number; error?: string; detail?: string }
  return { ok: r.status === 200, node: body.node, attempt: body.attempt, error: body.error ? `${body.error}: ${body.detail}` : undefined }
}

const pct = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN)

interface Cell {
  where: string
  handler: string
  conc: number
  done: number
  errors: number
  perSec: number
  p50: number
  p99: number
  firstError?: string
}

async function cell(target: Proc, type: string, conc: number, expectNode: string): Promise<Omit<Cell, 'where' | 'handler'>> {
  const lat: number[] = []
  let errors = 0
  let firstError: string | undefined
  let issued = 0
  const t0 = performance.now()
  const end = t0 + DURATION
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (performance.now() < end && issued < MAX_PER_CELL) {
        issued++
        const s = performance.now()
        try {
          const r = await submit(target, type)
          if (r.ok && r.node === expectNode) lat.push(performance.now() - s)
          else {
            errors++
            firstError ??= r.error ?? `ran on ${r.node}, expected ${expectNode}`
          }
        } catch (e) {
          errors++
          firstError ??= (e as Error).message
        }
      }
    }),
  )
  const elapsed = (performance.now() - t0) / 1000
  lat.sort((a, b) => a - b)
  return { conc, done: lat.length, errors, perSec: lat.length / elapsed, p50: pct(lat, 0.5), p99: pct(lat, 0.99), firstError }
}

async function failoverRound(nodes: Proc[], round: number): Promise<{ toFirstTask: number; toMaster: number; attempt: number; node: string; errors: number }> {
  const master = nodes[0]
  const submitter = nodes[1]
  const others = nodes.slice(1)
  let killedAt = 0
  let first: { at: number; attempt: number; node: string } | null = null
  let masterAt = 0
  let errors = 0
  let stop = false
  const loop = (async () => {
    while (!stop) {
      try {
        const r = await submit(submitter, 'noop-mod', 30_000)
        const at = performance.now()
        if (r.ok && killedAt > 0 && r.node !== master.id && first === null) first = { at, attempt: r.attempt ?? 0, node: r.node ?? '?' }
        if (!r.ok) errors++
      } catch {
        errors++
      }
    }
  })()
  const poll = (async () => {
    while (!stop) {
      if (killedAt > 0 && masterAt === 0) {
        const st = await Promise.all(others.map(status))
        if (st.every((s) => s?.master && s.master.id !== master.id)) masterAt = performance.now()
      }
      await new Promise((r) => setTimeout(r, 20))
    }
  })()
  await new Promise((r) => setTimeout(r, 1_500))
  killedAt = performance.now()
  master.child.kill('SIGKILL')
  await master.exited
  await waitFor(`round ${round}: a masterOnly task done by a new master`, async () => first !== null && masterAt > 0, 60_000)
  stop = true
  await Promise.all([loop, poll])
  const f = first as unknown as { at: number; attempt: number; node: string }
  return { toFirstTask: f.at - killedAt, toMaster: masterAt - killedAt, attempt: f.attempt, node: f.node, errors }
}

async function main(): Promise<void> {
  const started = new Date()
  const load0 = loadavg()[0]
  const ports = await Promise.all(Array.from({ length: 6 }, freePort))
  const n1 = launch('node-1', ports[0], ports[1], join(dir, 'node-1'), [])
  const seed = `/ip4/127.0.0.1/tcp/${ports[0]}`
  const n2 = launch('node-2', ports[2], ports[3], join(dir, 'node-2'), [seed])
  const n3 = launch('node-3', ports[4], ports[5], join(dir, 'node-3'), [seed])
  let nodes = [n1, n2, n3]
  await masterIs(nodes, 'node-1')
  console.error('cluster up; warming up')
  for (let i = 0; i < 200; i++) await submit(n2, i % 2 ? 'noop-mod' : 'noop-cmd')

  const cells: Cell[] = []
  for (const handler of ['module', 'command']) {
    for (const where of ['forwarded', 'local']) {
      for (const conc of [1, 4, 16]) {
        const type = `noop-${handler === 'module' ? 'mod' : 'cmd'}${where === 'local' ? '-local' : ''}`
        let c = await cell(n2, type, conc, where === 'local' ? 'node-2' : 'node-1')
        for (let i = 1; i < REPEAT; i++) {
          const again = await cell(n2, type, conc, where === 'local' ? 'node-2' : 'node-1')
          if (again.perSec > c.perSec) c = { ...again, errors: again.errors + c.errors }
          else c = { ...c, errors: c.errors + again.errors }
        }
        cells.push({ where, handler, ...c })
        console.error(`${handler} ${where} x${conc}: ${c.perSec.toFixed(0)}/s p50 ${c.p50.toFixed(1)} ms p99 ${c.p99.toFixed(1)} ms errors ${c.errors}${c.firstError ? ` (${c.firstError})` : ''}`)
      }
    }
  }

  const rounds: Awaited<ReturnType<typeof failoverRound>>[] = []
  for (let r = 1; r <= ROUNDS; r++) {
    const res = await failoverRound(nodes, r)
    rounds.push(res)
    console.error(`failover ${r}: first masterOnly task after ${res.toFirstTask.toFixed(0)} ms (attempt ${res.attempt} on ${res.node}), all agree on new master after ${res.toMaster.toFixed(0)} ms`)
    // Bring the old master back with the same identity and wait until it is master again (after its stability window).
    const old = nodes[0]
    const back = launch(old.id, old.p2p, old.api, old.dataDir, [`/ip4/127.0.0.1/tcp/${nodes[1].p2p}`])
    nodes = [back, nodes[1], nodes[2]]
    if (r < ROUNDS) await masterIs(nodes, 'node-1', 90_000)
  }

  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-')
  const table = [
    '| handler | where it runs | submitters | tasks/s | p50 ms | p99 ms | errors |',
    '|---|---|---|---|---|---|---|',
    ...cells.map((c) => `| ${c.handler} | ${c.where === 'forwarded' ? 'forwarded node-2 → master node-1' : 'local on node-2'} | ${c.conc} | ${c.perSec.toFixed(0)} | ${f(c.p50)} | ${f(c.p99)} | ${c.errors} |`),
  ]
  const ftable = [
    '| round | SIGKILL → first masterOnly task done | SIGKILL → new master agreed by the others | attempt of that task | ran on | failed submits |',
    '|---|---|---|---|---|---|',
    ...rounds.map((r, i) => `| ${i + 1} | ${r.toFirstTask.toFixed(0)} ms | ${r.toMaster.toFixed(0)} ms | ${r.attempt} | ${r.node} | ${r.errors} |`),
  ]
  const md = [
    '# Task benchmark',
    '',
    `Run ${started.toISOString()} on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), load average ${load0.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at the end`,
    '(the machine is shared: other people\'s tests ran at the same time, so treat the figures as a lower bound).',
    '',
    'Reproduce: `npx tsx scripts/bench/tasks.ts` (or `npm run bench -- tasks`); options `--duration <ms per run>`, `--repeat <runs per row>`, `--rounds <n>`, `--out <file>`.',
    '',
    'Setup: three agent processes on 127.0.0.1 built with the library API (scripts/bench/tasks-agent.ts), node-1 master.',
    'The driver (one more process) submits through `POST /v1/tasks` of node-2 and waits for each outcome (HTTP keep-alive),',
    `for ${DURATION} ms per run, best of ${REPEAT} runs per row (errors summed over all runs). Latency is the whole HTTP`,
    'submit as a client sees it. "module" is an in-process no-op',
    'handler registered with `handle()`; "command" runs `true` as a child process in its own process group (payload on',
    'stdin, env, timeout). Every task is journaled (SQLite, WAL) on the submitter and, when forwarded, on the master.',
    'Forwarded = masterOnly type: node-2 routes it to the master over `/conclave/task/1.0.0` (one libp2p stream per task).',
    '',
    ...table,
    '',
    '## Master crash',
    '',
    'One submitter loops `noop-mod` (masterOnly) on node-2; node-1 (the master) gets SIGKILL; "first task" is the first',
    'successful outcome from another node after the kill (the task in flight is retried with the same id, attempt+1).',
    'After each round node-1 restarts with the same key and data dir and takes the master role back after its stability window.',
    '',
    ...ftable,
    '',
    '## Reading the figures',
    '',
    '- Forwarded vs local (module handler) is the price of routing to the master: one libp2p stream per task',
    '  (multistream negotiation plus a yamux SYN, about 1 ms on loopback) and a second journal (the master records',
    '  what it ran, for idempotence). Everything else — HTTP, the submitter\'s journal — is paid by local tasks too.',
    '- A command handler costs a fork+exec of the agent process (a ~150-200 MB Node process; the page tables are',
    '  copied) plus pipes and a process group; it dominates the command rows and grows with machine load.',
    '  Module handlers run in the agent\'s event loop: use them for light work only (they delay probes and lease renewals).',
    '- With more submitters, latency rises faster than throughput: the agents, the driver and the forked handlers',
    '  share 2 cores (and, here, other people\'s workloads).',
    '- Master crash: "first task" includes failure detection (SWIM probe + suspicion), the old leases expiring',
    '  (leaseDurationMs 1200) before anyone grants to node-2, node-2 collecting a majority, and the retry of the task',
    '  in flight with attempt 2. It tracks the time to a new agreed master closely: task failover adds little on top.',
    '',
  ].join('\n')
  writeFileSync(OUT, md)
  console.log(md)
}

async function cleanup(): Promise<void> {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM')
  await Promise.race([Promise.all(procs.map((p) => p.exited)), new Promise((r) => setTimeout(r, 4_000))])
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}

main()
  .then(cleanup)
  .catch(async (e) => {
    console.error(`bench tasks failed: ${(e as Error).message}`)
    await cleanup()
    process.exit(1)
  })
