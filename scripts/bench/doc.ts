// Writing a benchmark's doc: the generated part, then any hand-written notes kept from the previous file.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'

/** Hand-written notes below this marker survive a re-run of the benchmark. */
export const NOTES_MARKER = '<!-- notes -->'

export function writeBenchDoc(outFile: string, lines: string[]): void {
  let previous = ''
  if (existsSync(outFile)) {
    const text = readFileSync(outFile, 'utf8')
    const at = text.indexOf(NOTES_MARKER)
    if (at >= 0) previous = text.slice(at)
  }
  writeFileSync(outFile, lines.join('\n') + '\n' + (previous ? '\n' + previous : ''))
}
