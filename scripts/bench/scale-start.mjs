// A big cluster on one host, started one agent at a time: N agents on 127.0.0.1 (ports BASE.. below the ephemeral
// range, so no outbound connection takes one first), each bootstrapping to the first, STAGGER_MS apart, run as the
// bin's shebang runs them. Every EVERY s it prints how many agents see all others alive, the median and smallest
// view, CPU per agent (from /proc), median RSS, and suspicions and master changes summed over all agents.
//   N=50 STAGGER_MS=5000 DUR=560 EVERY=20 node scripts/bench/scale-start.mjs
// LOG_DIR keeps every agent's log (stderr: warnings and up) in LOG_DIR/nNN.log; NODE_FLAGS adds flags to every
// agent's node, to try one against the shebang's.
// Bounded: every agent is stopped (SIGTERM, then SIGKILL) after DUR seconds, and its data dir removed.
import { spawn } from 'node:child_process'
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// Node 24 strips the types of a .ts import; the shebang's flags and environment come from the one place they live.
import { BIN, binLaunch } from '../lib/bin-launch.ts'
const N = Number(process.env.N ?? 50), STAGGER = Number(process.env.STAGGER_MS ?? 0), DUR = Number(process.env.DUR ?? 240)
const EVERY = Number(process.env.EVERY ?? 10), BASE = Number(process.env.BASE ?? 21000)
const NODE = process.execPath, LAUNCH = binLaunch()
const CFG = process.env.CFG
const dirs = [], kids = []
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const ticks = (pid) => { try { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]) } catch { return 0 } }
const rss = (pid, field = 'VmRSS') => { try { return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024 } catch { return 0 } }
const t0 = Date.now()
void (async () => { for (let i = 0; i < N; i++) {
  const d = mkdtempSync(join(tmpdir(), 's50-')); dirs.push(d)
  const id = `n${String(i + 1).padStart(2, '0')}`
  const argv = ['agent', '--id', id, '--no-mdns', '--listen', `/ip4/127.0.0.1/tcp/${BASE + 2 * i}`, '--api', `127.0.0.1:${BASE + 2 * i + 1}`, '--data-dir', d, '--log-level', 'warn']
  if (i > 0) argv.push('--bootstrap', `/ip4/127.0.0.1/tcp/${BASE}`)
  if (CFG) argv.push('--config', CFG)
  const extra = process.env.PROF_ID && Number(process.env.PROF_ID) === i + 1 ? ['--cpu-prof', `--cpu-prof-dir=${tmpdir()}/scale-start-prof`] : []
  const flags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean)
  const k = spawn(NODE, [...LAUNCH.nodeArgs, ...flags, ...extra, BIN, ...argv], { env: { ...process.env, ...LAUNCH.env }, stdio: ['ignore', 'ignore', 'pipe'] })
  if (process.env.LOG_DIR) k.stderr.pipe(createWriteStream(join(process.env.LOG_DIR, `${id}.log`)))
  let err = ''; k.stderr.on('data', (d) => { err = (err + d).slice(-4000) }); k.on('exit', (c) => { if (c !== null) console.log(`agent ${i + 1} exited ${c}: ${err.slice(-300)}`) })
  kids.push(k)
  if (STAGGER) await sleep(STAGGER); else if (i === 0) await sleep(600)
} })()
await sleep(1000)
const metric = async (i, name) => { try { const r = await fetch(`http://127.0.0.1:${BASE + 2 * i + 1}/metrics`, { signal: AbortSignal.timeout(3000) }); const t = await r.text(); let s = 0; for (const l of t.split('\n')) if (l.startsWith(name)) s += Number(l.split(' ').pop()); return s } catch { return NaN } }
const alive = async (i) => { try { const r = await fetch(`http://127.0.0.1:${BASE + 2 * i + 1}/v1/members`, { signal: AbortSignal.timeout(3000) }); return (await r.json()).filter((m) => m.state === 'alive').length } catch { return 0 } }
let prev = Array.from({ length: N }, () => 0), pt = Date.now()
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)] }
while (Date.now() - t0 < DUR * 1000) {
  await sleep(EVERY * 1000)
  const now = kids.map((k) => ticks(k.pid)); while (prev.length < now.length) prev.push(0); const secs = (Date.now() - pt) / 1000
  const cpu = now.map((t, i) => (t - prev[i]) / secs); prev = now; pt = Date.now()
  const views = await Promise.all(kids.map((_, i) => alive(i)))
  const sus = (await Promise.all(kids.map((_, i) => metric(i, 'conclave_suspicions_total')))).reduce((a, b) => a + (b || 0), 0)
  const mc = (await Promise.all(kids.map((_, i) => metric(i, 'conclave_master_changes_total')))).reduce((a, b) => a + (b || 0), 0)
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0]
  console.log(`t=${Math.round((Date.now() - t0) / 1000)}s n=${kids.length} full=${views.filter((v) => v === kids.length).length} medView=${med(views)} minView=${Math.min(...views)} cpuSum=${cpu.reduce((a, b) => a + b, 0).toFixed(0)}% medCpu=${med(cpu).toFixed(1)}% maxCpu=${Math.max(...cpu).toFixed(1)}% cpu1=${cpu[0].toFixed(1)}% rssMed=${med(kids.map((k) => rss(k.pid))).toFixed(0)} anonMed=${med(kids.map((k) => rss(k.pid, 'RssAnon'))).toFixed(0)} sus=${sus} mc=${mc} load=${load}`)
}
for (const k of kids) k.kill('SIGTERM')
await sleep(3000)
for (const k of kids) try { k.kill('SIGKILL') } catch {}
for (const d of dirs) rmSync(d, { recursive: true, force: true })
