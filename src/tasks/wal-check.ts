// A check of SQLite's write-ahead log before SQLite opens it. SQLite replays a WAL up to the first frame whose
// checksum chain breaks and silently drops the rest, so a WAL cut in half opens "fine" with some accepted tasks
// gone. This walks the same checksum chain (format: https://www.sqlite.org/fileformat.html#the_write_ahead_log)
// and tells a cut or damaged current WAL from the normal leftovers SQLite leaves behind.
import { closeSync, openSync, readSync, statSync } from 'node:fs'

const WAL_HEADER_BYTES = 32
const FRAME_HEADER_BYTES = 24

export type WalVerdict =
  | { ok: true; frames: number; committedFrames: number }
  | { ok: false; reason: string }

/** Cumulative checksum of SQLite's WAL over `data` (a multiple of 8 bytes), starting from s0/s1. */
function walChecksum(data: Buffer, bigEndian: boolean, s0: number, s1: number): [number, number] {
  for (let i = 0; i < data.length; i += 8) {
    const x0 = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i)
    const x1 = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4)
    s0 = (s0 + x0 + s1) >>> 0
    s1 = (s1 + x1 + s0) >>> 0
  }
  return [s0, s1]
}

/**
 * Verdict on `<db>-wal`. Fine: no WAL, an empty one, whole valid frames (the last ones may be an uncommitted
 * transaction that a crash interrupted: SQLite drops it, and no 202 depended on it since a commit is fsynced
 * first), or whole frames of an older WAL generation (other salts) that SQLite reuses in place.
 * Not fine: a bad header, a frame of the current generation that is incomplete (the file was cut) or whose
 * checksum breaks (damaged or torn).
 */
export function checkWal(walPath: string): WalVerdict {
  let size: number
  try {
    size = statSync(walPath).size
  } catch {
    return { ok: true, frames: 0, committedFrames: 0 }
  }
  if (size === 0) return { ok: true, frames: 0, committedFrames: 0 }
  if (size < WAL_HEADER_BYTES) return { ok: false, reason: `write-ahead log is ${size} bytes, shorter than its 32-byte header` }
  const fd = openSync(walPath, 'r')
  try {
    const header = Buffer.alloc(WAL_HEADER_BYTES)
    readSync(fd, header, 0, WAL_HEADER_BYTES, 0)
    const magic = header.readUInt32BE(0)
    if (magic !== 0x377f0682 && magic !== 0x377f0683) return { ok: false, reason: 'write-ahead log has no valid header (bad magic number)' }
    const bigEndian = (magic & 1) === 1
    const pageSize = header.readUInt32BE(8)
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return { ok: false, reason: `write-ahead log header names page size ${pageSize}` }
    let [s0, s1] = walChecksum(header.subarray(0, 24), bigEndian, 0, 0)
    if (s0 !== header.readUInt32BE(24) || s1 !== header.readUInt32BE(28)) return { ok: false, reason: 'write-ahead log header checksum does not match' }
    const salt1 = header.readUInt32BE(16)
    const salt2 = header.readUInt32BE(20)
    const frameBytes = FRAME_HEADER_BYTES + pageSize
    const frame = Buffer.alloc(frameBytes)
    let offset = WAL_HEADER_BYTES
    let frames = 0
    let committedFrames = 0
    while (offset < size) {
      const n = readSync(fd, frame, 0, Math.min(frameBytes, size - offset), offset)
      const sameGeneration = n >= 16 && frame.readUInt32BE(8) === salt1 && frame.readUInt32BE(12) === salt2
      if (n < frameBytes) {
        // An incomplete frame: a cut file, unless it visibly belongs to an older generation.
        if (n < 16 || sameGeneration) return { ok: false, reason: `write-ahead log is cut: frame ${frames + 1} at byte ${offset} has ${n} of ${frameBytes} bytes` }
        break
      }
      if (!sameGeneration) break // leftovers of an older generation: SQLite ignores them, so do we
      ;[s0, s1] = walChecksum(frame.subarray(0, 8), bigEndian, s0, s1)
      ;[s0, s1] = walChecksum(frame.subarray(FRAME_HEADER_BYTES), bigEndian, s0, s1)
      if (s0 !== frame.readUInt32BE(16) || s1 !== frame.readUInt32BE(20)) {
        return { ok: false, reason: `write-ahead log is damaged: checksum of frame ${frames + 1} at byte ${offset} does not match` }
      }
      frames++
      if (frame.readUInt32BE(4) !== 0) committedFrames = frames
      offset += frameBytes
    }
    return { ok: true, frames, committedFrames }
  } finally {
    closeSync(fd)
  }
}
