// The dashboard's static files (src/api/ui): read once at start. Unbundled, they sit beside this module (the build
// copies them to dist/api/ui); the bin's bundle (dist/bundle) finds them in dist/api/ui; the one-file executable
// carries them as SEA assets (scripts/build/exe.mjs) and reads no file at all.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export const UI_TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
}

interface SeaModule {
  isSea(): boolean
  getAsset(key: string): ArrayBuffer
}

function fromSea(): Record<string, Buffer> | null {
  // getBuiltinModule works in ES modules and in the executable's CommonJS bundle alike (no import.meta there).
  const sea = process.getBuiltinModule('node:sea') as SeaModule | undefined
  if (!sea?.isSea()) return null
  return Object.fromEntries(Object.keys(UI_TYPES).map((f) => [f, Buffer.from(sea.getAsset(`ui/${f}`))]))
}

/** The dashboard files by name; throws naming the places looked in when they are missing (a broken install). */
export function loadUiFiles(): Record<string, Buffer> {
  const sea = fromSea()
  if (sea) return sea
  const here = import.meta.dirname
  const dirs = [join(here, 'ui'), join(here, '../api/ui')]
  const dir = dirs.find((d) => existsSync(join(d, 'index.html')))
  if (!dir) throw new Error(`the dashboard files are missing (looked in ${dirs.join(', ')})`)
  return Object.fromEntries(Object.keys(UI_TYPES).map((f) => [f, readFileSync(join(dir, f))]))
}
