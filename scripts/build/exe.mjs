// `npm run build:exe`: the one-file executable dist/conclave, a Node single executable application (SEA).
//   1. esbuild (pinned) bundles the CLI and all its dependencies into one CommonJS file (SEA runs a CommonJS
//      main script, and its require() loads only built-in modules, so everything else must be inside);
//   2. `node --experimental-sea-config` turns that file into a SEA blob (with a V8 code cache, for start-up);
//   3. postject (pinned) injects the blob into a copy of the Node 24 binary from node_modules (node@24, a
//      devDependency), which is then the whole program: it needs no Node and no node_modules on the host.
// Runs on the checkout's Node 24 (npm puts node_modules/.bin first in PATH); the blob must come from the same
// Node version as the binary it goes into.
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { sharedBundleOptions } from './bundle-options.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const out = join(root, 'dist/conclave')
const nodeBinary = join(root, 'node_modules/node/bin/node')
// The fuse string Node's SEA loader looks for (documented in Node's single-executable-applications page).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

const work = mkdtempSync(join(tmpdir(), 'conclave-exe-'))
try {
  const bundle = join(work, 'conclave.cjs')
  const result = await build({
    // As the bin's bundle (scripts/build/bundle-options.mjs): minified, names kept, ASCII only; the licence comments
    // travel as an asset.
    ...sharedBundleOptions,
    entryPoints: [join(root, 'scripts/build/exe-entry.ts')],
    target: 'node24',
    format: 'cjs',
    outfile: bundle,
    // src/version.ts: no package.json inside the executable.
    define: { __CONCLAVE_VERSION__: JSON.stringify(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version) },
  })
  if (result.errors.length > 0) process.exit(1)
  const legal = `${bundle}.LEGAL.txt`

  const blob = join(work, 'conclave.blob')
  const seaConfig = join(work, 'sea-config.json')
  writeFileSync(seaConfig, JSON.stringify({
    main: bundle,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    // The dashboard's files travel inside the executable (src/api/ui-files.ts reads them with node:sea getAsset).
    assets: {
      ...Object.fromEntries(readdirSync(join(root, 'src/api/ui')).map((f) => [`ui/${f}`, join(root, 'src/api/ui', f)])),
      ...(existsSync(legal) ? { 'LEGAL.txt': legal } : {}),
    },
    // As bin/conclave.js's shebang: a small young generation keeps an idle agent's RSS down.
    execArgv: ['--max-semi-space-size=1'],
  }))
  execFileSync(nodeBinary, ['--experimental-sea-config', seaConfig], { stdio: 'inherit' })

  rmSync(out, { force: true })
  copyFileSync(nodeBinary, out)
  chmodSync(out, 0o755)
  const postject = join(root, 'node_modules/postject/dist/cli.js')
  execFileSync(nodeBinary, [postject, out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { stdio: 'inherit' })
  console.log(`build:exe: ${out} (${(statSync(out).size / 1e6).toFixed(0)} MB)`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
