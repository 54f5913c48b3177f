// `npm run build` (also run by `prepare`, so `npm ci` in a checkout builds, and by `prepack`): compiles src/
// to dist/ (JavaScript and .d.ts) with the pinned TypeScript, after emptying dist/ so a deleted or renamed
// source file leaves no stale module behind. dist/conclave (the one-file executable of `npm run build:exe`)
// is kept: it is rebuilt on purpose, not as a side effect of every build.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const dist = join(root, 'dist')
const KEEP = new Set(['conclave'])

if (existsSync(dist)) {
  for (const entry of readdirSync(dist)) if (!KEEP.has(entry)) rmSync(join(dist, entry), { recursive: true, force: true })
}
const tsc = join(root, 'node_modules/typescript/bin/tsc')
if (!existsSync(tsc)) {
  console.error('build: typescript is not installed (it is a devDependency: run `npm ci` in the checkout)')
  process.exit(2)
}
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
if (r.status !== 0) {
  console.error(`build: tsc failed (${r.status ?? r.signal})`)
  process.exit(1)
}
