// The package version. The bundles (bin and one-file executable) get it inlined by esbuild (`define`), so a bundled
// program reads no file for it; the unbundled build and the sources read package.json beside dist/ or src/.
import { createRequire } from 'node:module'

declare const __CONCLAVE_VERSION__: string | undefined

function fromPackageJson(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version
}

export const VERSION: string = typeof __CONCLAVE_VERSION__ === 'string' ? __CONCLAVE_VERSION__ : fromPackageJson()
