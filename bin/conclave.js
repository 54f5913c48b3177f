#!/usr/bin/env -S node --max-semi-space-size=1
// Entry point of the `conclave` command. It runs the bundled CLI in dist/bundle/ (`npm run build`, which `npm ci`
// in a checkout and `npm pack` run); no TypeScript loader is involved.
// --max-semi-space-size=1: a small young generation keeps an idle agent's RSS down (measured in docs/bench-runtime.md).
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
