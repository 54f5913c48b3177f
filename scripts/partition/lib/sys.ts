// Thin wrappers around the system tools the harness drives (ip, nft) and a few process helpers.
// Everything here is synchronous on purpose: cleanup must also work inside an 'exit' handler.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

export interface ShResult { ok: boolean; code: number | null; stdout: string; stderr: string }

export function sh(cmd: string, args: string[], input?: string): ShResult {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 30_000 })
  if (r.error) return { ok: false, code: null, stdout: '', stderr: String(r.error.message) }
  return { ok: r.status === 0, code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

/** Runs a command and throws with its stderr when it fails. */
export function must(cmd: string, args: string[], input?: string): string {
  const r = sh(cmd, args, input)
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`)
  return r.stdout
}

export function which(bin: string): string | null {
  const r = sh('sh', ['-c', `command -v ${bin}`])
  return r.ok ? r.stdout.trim() : null
}

/** Process start time in clock ticks since boot (field 22 of /proc/<pid>/stat); null if gone. Guards against pid reuse. */
export function procStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return rest[19] ?? null // field 22 overall; fields after "(comm)" start at 3
  } catch { return null }
}

export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null
  } catch { return null }
}

/** True when pid is alive (not a zombie) and is still the very process we recorded. */
export function sameProcess(pid: number | null | undefined, startTime: string | null | undefined): boolean {
  if (!pid || !startTime) return false
  const st = procStartTime(pid)
  if (st !== startTime) return false
  return procState(pid) !== 'Z'
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try { process.kill(pid, sig); return true } catch { return false }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Natural order of node ids: "node-2" < "node-10". */
export function naturalCompare(a: string, b: string): number {
  const ax = a.match(/\d+|\D+/g) ?? []
  const bx = b.match(/\d+|\D+/g) ?? []
  for (let i = 0; i < Math.min(ax.length, bx.length); i++) {
    const x = ax[i], y = bx[i]
    if (x === y) continue
    const nx = /^\d/.test(x), ny = /^\d/.test(y)
    if (nx && ny) { const d = Number(x) - Number(y); if (d !== 0) return d; continue }
    return x < y ? -1 : 1
  }
  return ax.length - bx.length
}

export function lowestId(ids: Iterable<string>): string | null {
  const sorted = [...ids].sort(naturalCompare)
  return sorted[0] ?? null
}
