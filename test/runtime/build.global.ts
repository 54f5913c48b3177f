// vitest globalSetup: compile src/ to dist/ before any test runs. The integration tests spawn agents through
// bin/conclave.js, which runs the compiled dist/ (no TypeScript loader), so a test must never see a dist/ older
// than the sources, e.g. `npx vitest run test/integration` right after an edit.
import { spawnSync } from 'node:child_process'
import { join, resolve } from 'node:path'

export default function setup(): void {
  const root = resolve(import.meta.dirname, '../..')
  const r = spawnSync(process.execPath, [join(root, 'scripts/build/build.mjs')], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`npm run build failed (${r.status ?? r.signal}); the tests need a compiled dist/`)
}
