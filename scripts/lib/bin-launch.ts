// How bin/conclave.js starts node: its shebang (`#!/usr/bin/env -S NAME=value ... node --flag ...`) gives `npx conclave`
// and `./bin/conclave.js` an environment and node flags. Harnesses and benchmarks that spawn `node <bin>` take them
// from here, so the agents they time and measure run as a user's do, and the shebang stays the one place they live.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const BIN = join(dirname(fileURLToPath(import.meta.url)), '../../bin/conclave.js')

export interface BinLaunch {
  env: Record<string, string>
  nodeArgs: string[]
}

export function binLaunch(bin = BIN): BinLaunch {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0] ?? ''
  const m = /^#!\/usr\/bin\/env -S (.*)$/.exec(first)
  if (!m) throw new Error(`${bin}: expected a first line "#!/usr/bin/env -S [NAME=value ...] node [flags]", got "${first}"`)
  const words = m[1]!.trim().split(/\s+/)
  const at = words.indexOf('node')
  if (at < 0) throw new Error(`${bin}: the shebang runs no node: "${first}"`)
  const env: Record<string, string> = {}
  for (const w of words.slice(0, at)) {
    const eq = w.indexOf('=')
    if (eq <= 0) throw new Error(`${bin}: "${w}" in the shebang is not NAME=value`)
    env[w.slice(0, eq)] = w.slice(eq + 1)
  }
  return { env, nodeArgs: words.slice(at + 1) }
}
