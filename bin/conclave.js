#!/usr/bin/env -S MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=32768 node --max-semi-space-size=1
// Entry point of the `conclave` command. It runs the bundled CLI in dist/bundle/ (`npm run build`, which `npm ci`
// in a checkout and `npm pack` run); no TypeScript loader is involved.
// What the shebang sets keeps an idle agent's RSS down (docs/bench-runtime.md); benchmarks and test harnesses read
// it from here (scripts/lib/bin-launch.ts):
// - --max-semi-space-size=1: a small young generation;
// - MALLOC_ARENA_MAX=1: one glibc arena instead of one per thread (about 1 MB);
// - MALLOC_MMAP_THRESHOLD_=32768: blocks of 32 KiB and more are mapped on their own and given back when freed,
//   instead of fragmenting the heap (3-5 MB per agent; 10 MB when the compile cache is cold, as after a build).
//
// This file is the one thing an old Node reads, so it uses nothing newer than ES2020 before the version check.
const MIN = [22, 13] // Promise.withResolvers (libp2p 2.x) needs 22; node:sqlite (the task journal) is unflagged from 22.13
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < MIN[0] || (major === MIN[0] && minor < MIN[1])) {
  process.stderr.write(`conclave: needs Node.js >= ${MIN.join('.')}, this is ${process.version}\n`)
  process.exit(2)
}
const main = new URL('../dist/bundle/main.js', import.meta.url)
// V8's compiled code is kept on disk (Node's compile cache, in the OS temp dir unless NODE_COMPILE_CACHE says
// otherwise): after the first run an agent starts listening in about half the time.
const { enableCompileCache } = await import('node:module')
enableCompileCache?.()
try {
  await import(main.href)
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(main.pathname)) {
    process.stderr.write('conclave: dist/ is missing; in a checkout, run `npm run build` (or `npm ci`)\n')
    process.exit(2)
  }
  throw e
}
