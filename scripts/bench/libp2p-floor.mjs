// The RSS floor of the libp2p stack: N processes of scripts/bench/floor/node.ts (the agent's libp2p configuration
// and nothing else, bundled and minified as the agent is, run with the bin's node flags and environment) on
// 127.0.0.1, each dialing every earlier one (a full mesh, as an agent cluster), STAGGER_MS apart; after HOLD_S
// more seconds it prints each process's connections and the median RSS, anonymous and file-backed RSS. The same
// figures for N agents come from scale-start.mjs, so the difference is what the agent adds to libp2p.
//   N=10 node scripts/bench/libp2p-floor.mjs
// Bounded: every process exits after its lifetime (STAGGER_MS × N + HOLD_S + 30 s) if not stopped first.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { esmBanner, sharedBundleOptions } from '../build/bundle-options.mjs'
import { binLaunch } from '../lib/bin-launch.ts'

const N = Number(process.env.N ?? 10), STAGGER = Number(process.env.STAGGER_MS ?? 1500), HOLD = Number(process.env.HOLD_S ?? 45)
const BASE = Number(process.env.BASE ?? 23300)
const here = dirname(fileURLToPath(import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'libp2p-floor-'))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const kb = (pid, field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN)
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
const kids = []
const conns = []
try {
  const out = join(work, 'floor.mjs')
  const r = await build({ ...sharedBundleOptions, entryPoints: [join(here, 'floor/node.ts')], format: 'esm', target: 'node22', outfile: out, banner: esmBanner })
  if (r.errors.length > 0) process.exit(1)
  const launch = binLaunch()
  const lifetimeS = Math.ceil((STAGGER * N) / 1000 + HOLD + 30)
  const addrs = []
  for (let i = 0; i < N; i++) {
    const k = spawn(process.execPath, [...launch.nodeArgs, out, String(BASE + i), String(lifetimeS), ...addrs], { env: { ...process.env, ...launch.env }, stdio: ['ignore', 'pipe', 'inherit'] })
    kids.push(k)
    addrs.push(await new Promise((res, rej) => {
      let buf = ''
      k.stdout.on('data', (d) => {
        buf += d
        const lines = buf.split('\n')
        buf = lines.pop()
        for (const l of lines) {
          if (l.startsWith('connections ')) conns[i] = Number(l.slice(12))
          else res(l)
        }
      })
      k.once('exit', (c) => rej(new Error(`process ${i} exited (${c}) before it listened`)))
    }))
    await sleep(STAGGER)
  }
  await sleep(HOLD * 1000)
  const rss = kids.map((k) => kb(k.pid, 'VmRSS') / 1024), anon = kids.map((k) => kb(k.pid, 'RssAnon') / 1024), file = kids.map((k) => kb(k.pid, 'RssFile') / 1024)
  console.log(`libp2p floor: ${N} processes, full mesh on 127.0.0.1, ${HOLD} s after the last start; node ${launch.nodeArgs.join(' ')} ${Object.entries(launch.env).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  console.log(`connections per process: ${conns.join(' ')}`)
  console.log(`RSS median ${med(rss).toFixed(1)} MB (min ${Math.min(...rss).toFixed(1)}, max ${Math.max(...rss).toFixed(1)}); anonymous ${med(anon).toFixed(1)} MB; file-backed ${med(file).toFixed(1)} MB`)
} finally {
  for (const k of kids) k.kill('SIGTERM')
  await sleep(2000)
  for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL')
  rmSync(work, { recursive: true, force: true })
}
