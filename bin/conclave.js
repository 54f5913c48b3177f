#!/usr/bin/env -S node --max-semi-space-size=1
// Entry point for `npx conclave`: runs the TypeScript CLI through tsx, so a checkout needs no build step.
import { register } from 'tsx/esm/api'

const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  console.error(`conclave needs Node >= 22 (this is ${process.version}); run it through npm/npx so the bundled Node 24 is used`)
  process.exit(2)
}
register()
await import('../src/cli/main.ts')
