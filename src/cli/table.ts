// Plain text tables for human output.
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}

/** Width of the widest line of a block of text. */
export function textWidth(text: string): number {
  return Math.max(0, ...text.split('\n').map((l) => [...l].length))
}

/** Cut to `max` characters, marking the cut with an ellipsis. */
export function truncate(s: string, max: number): string {
  const chars = [...s]
  if (chars.length <= max) return s
  return max <= 1 ? '…'.slice(0, max) : chars.slice(0, max - 1).join('') + '…'
}

/** The distinctive tail of a libp2p peer id (they all start alike, 12D3KooW…). */
export function shortPeer(peer: string, keep = 6): string {
  return peer.length <= keep + 1 ? peer : `…${peer.slice(-keep)}`
}

/** "3s ago" style age of an ISO time. */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (s < 120) return `${s}s ago`
  if (s < 7200) return `${Math.round(s / 60)}m ago`
  if (s < 172800) return `${Math.round(s / 3600)}h ago`
  return `${Math.round(s / 86400)}d ago`
}

/** "3d 4h", "2h 5m", "4m 10s", "12s": an uptime. */
export function duration(ms: number): string {
  const s = Math.floor(ms / 1000)
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60
  if (d > 0) return `${d}d ${h}h`
  if (h > 0) return `${h}h ${m}m`
  if (m > 0) return `${m}m ${sec}s`
  return `${sec}s`
}
