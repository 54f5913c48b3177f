// What every bundle of the agent's code shares (scripts/build/build.mjs, exe.mjs, and the benchmark of the libp2p
// stack alone, scripts/bench/libp2p-floor.mjs), so that what they measure and what they ship are built alike.
import { lazyBuiltins } from './lazy-builtins.mjs'

export const sharedBundleOptions = {
  plugins: [lazyBuiltins],
  bundle: true,
  platform: 'node',
  logLevel: 'warning',
  // Smaller source text is less to read and parse and about 4 MB less resident per agent (measured); names are
  // not mangled, so stack traces still name the functions (and `node dist/cli/main.js` runs the unbundled code).
  minifyWhitespace: true,
  minifySyntax: true,
  // Licence comments go to a .LEGAL.txt beside each chunk: one of them held the only non-ASCII character of the
  // bundle, and V8 keeps a source with any non-ASCII character as two bytes per character (the 2.5 MB agent chunk
  // took 4.8 MB resident, ~2 MB more per agent: heap snapshot). Strings are escaped to ASCII (esbuild's default).
  legalComments: 'external',
  charset: 'ascii',
}

/** An ES module bundle: some dependencies are CommonJS and require() Node's built-ins, which an ES module lacks. */
export const esmBanner = { js: "import { createRequire as __conclaveCreateRequire } from 'node:module'; const require = __conclaveCreateRequire(import.meta.url);" }
