// `npm run build` (also run by `prepare`, so `npm ci` in a checkout builds, and by `prepack`), after emptying
// dist/ so a deleted or renamed source file leaves no stale module behind:
//   1. tsc (pinned) compiles src/ to dist/ (JavaScript and .d.ts): the library entry `conclave` (dist/index.js);
//   2. esbuild (pinned) bundles the CLI (src/cli/main.ts and its dependencies) into dist/bundle/, which
//      bin/conclave.js runs. One bundle file loads in a fraction of the time of the ~600 modules it replaces
//      (measured in docs/bench-runtime.md), and code splitting keeps the agent's code (libp2p, fastify, ...) in
//      a chunk that only `conclave agent` loads, so `conclave status` and `--version` never read it.
// dist/conclave (the one-file executable of `npm run build:exe`) is kept: it is rebuilt on purpose, not as a
// side effect of every build.
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { esmBanner, sharedBundleOptions } from './bundle-options.mjs'

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

// The dashboard's static files: beside the compiled server (dist/api/ui), where the bundle also looks for them.
cpSync(join(root, 'src/api/ui'), join(dist, 'api/ui'), { recursive: true })
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

const bundled = await build({
  ...sharedBundleOptions,
  entryPoints: { main: join(root, 'src/cli/main.ts') },
  splitting: true,
  format: 'esm',
  target: 'node22',
  outdir: join(dist, 'bundle'),
  chunkNames: '[name]-[hash]',
  // src/version.ts: the bundle reads no package.json for its version.
  define: { __CONCLAVE_VERSION__: JSON.stringify(version) },
  banner: esmBanner,
})
if (bundled.errors.length > 0) process.exit(1)
// Keep it so (see legalComments in bundle-options.mjs): a dependency update that brings a non-ASCII byte back fails the build.
for (const f of readdirSync(join(dist, 'bundle')).filter((n) => n.endsWith('.js'))) {
  const at = readFileSync(join(dist, 'bundle', f)).findIndex((b) => b > 0x7f)
  if (at >= 0) {
    console.error(`build: dist/bundle/${f} has a non-ASCII byte at offset ${at}: V8 would keep the whole chunk as UTF-16`)
    process.exit(1)
  }
}
