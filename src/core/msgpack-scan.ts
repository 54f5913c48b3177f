// A cheap structural check of msgpack bytes, run before decoding and schema validation. It walks the encoding
// once without allocating anything and refuses what no valid message looks like: bad framing, trailing bytes,
// nesting beyond a depth, containers with more elements than a bound, strings longer than a bound, binary or
// extension types, and more containers than the bytes could carry in a real message (a 4 KiB frame of 4,096
// empty maps is 4,096 objects to allocate and validate; here it is refused after one pass over 4 KiB).

export interface ScanLimits {
  /** Nesting depth; the root container is depth 1. */
  maxDepth: number
  /** Elements of one array, entries of one map. */
  maxItems: number
  /** Bytes of one string (map keys included). */
  maxStringBytes: number
  /** Containers (maps and arrays) in the whole message, at most this many plus bytes / minBytesPerContainer. */
  maxContainers: number
  /** A container in a real message carries content: one container per this many bytes is allowed beyond maxContainers. */
  minBytesPerContainer: number
  /** The root must be a map (every protocol message is an object), or an array of at most rootArrayItems items. */
  rootMap: boolean
  /** With rootMap: the largest root array allowed (a positional message, src/core/codec.ts); 0 or absent: none. */
  rootArrayItems?: number
  /** bin and ext types are refused unless true. */
  allowBinary: boolean
}

/** null when the bytes pass, else the reason (one short phrase). */
export function scanMsgpack(b: Uint8Array, l: ScanLimits): string | null {
  const len = b.length
  const containerBudget = l.maxContainers + Math.floor(len / l.minBytesPerContainer)
  // remaining[i]: items still to read in the open container at depth i+1; keyAt[i]: it is a map (keys at even counts).
  const remaining: number[] = []
  const isMap: boolean[] = []
  let pos = 0
  let containers = 0
  if (len === 0) return 'empty'
  if (l.rootMap) {
    const c = b[0]
    const map = (c >= 0x80 && c <= 0x8f) || c === 0xde || c === 0xdf
    // A fixarray (at most 15 items) is the only array form a positional message needs.
    const shortArray = c >= 0x90 && c <= 0x9f && (c & 0x0f) <= (l.rootArrayItems ?? 0)
    if (!map && !shortArray) return l.rootArrayItems ? 'root is not a map or a short array' : 'root is not a map'
  }
  for (;;) {
    if (pos >= len) return 'truncated'
    const top = remaining.length - 1
    const atKey = top >= 0 && isMap[top] && remaining[top] % 2 === 0
    const c = b[pos++]
    let skip = 0
    let count = -1
    let map = false
    let str = -1
    if (c <= 0x7f || c >= 0xe0) skip = 0
    else if (c <= 0x8f) ((count = c & 0x0f), (map = true))
    else if (c <= 0x9f) count = c & 0x0f
    else if (c <= 0xbf) str = c & 0x1f
    else {
      const need = (n: number) => pos + n <= len
      switch (c) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break
        case 0xca:
          skip = 4
          break
        case 0xcb:
          skip = 8
          break
        case 0xcc:
        case 0xd0:
          skip = 1
          break
        case 0xcd:
        case 0xd1:
          skip = 2
          break
        case 0xce:
        case 0xd2:
          skip = 4
          break
        case 0xcf:
        case 0xd3:
          skip = 8
          break
        case 0xd9:
          if (!need(1)) return 'truncated'
          str = b[pos++]
          break
        case 0xda:
          if (!need(2)) return 'truncated'
          str = (b[pos] << 8) | b[pos + 1]
          pos += 2
          break
        case 0xdb:
          if (!need(4)) return 'truncated'
          str = ((b[pos] << 24) >>> 0) + (b[pos + 1] << 16) + (b[pos + 2] << 8) + b[pos + 3]
          pos += 4
          break
        case 0xdc:
        case 0xde:
          if (!need(2)) return 'truncated'
          count = (b[pos] << 8) | b[pos + 1]
          pos += 2
          map = c === 0xde
          break
        case 0xdd:
        case 0xdf:
          if (!need(4)) return 'truncated'
          count = ((b[pos] << 24) >>> 0) + (b[pos + 1] << 16) + (b[pos + 2] << 8) + b[pos + 3]
          pos += 4
          map = c === 0xdf
          break
        case 0xc4:
        case 0xc5:
        case 0xc6:
        case 0xc7:
        case 0xc8:
        case 0xc9:
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8: {
          if (!l.allowBinary) return 'binary or extension type'
          // bin8/16/32: length; ext8/16/32: length + type byte; fixext1..16: type byte + 1..16 bytes.
          if (c >= 0xd4) skip = 1 + (1 << (c - 0xd4))
          else {
            const lenBytes = c === 0xc4 || c === 0xc7 ? 1 : c === 0xc5 || c === 0xc8 ? 2 : 4
            if (!need(lenBytes)) return 'truncated'
            let n = 0
            for (let i = 0; i < lenBytes; i++) n = n * 256 + b[pos + i]
            pos += lenBytes
            skip = n + (c >= 0xc7 ? 1 : 0)
          }
          break
        }
        default:
          return `invalid type byte 0x${c.toString(16)}`
      }
    }
    if (atKey && str < 0) return 'map key is not a string'
    if (str >= 0) {
      if (str > l.maxStringBytes) return `string of ${str} bytes (limit ${l.maxStringBytes})`
      skip = str
    }
    if (skip > 0) {
      if (pos + skip > len) return 'truncated'
      pos += skip
    }
    if (count >= 0) {
      if (++containers > containerBudget) return `more than ${containerBudget} maps and arrays in ${len} bytes`
      if (count > l.maxItems) return `${map ? 'map' : 'array'} of ${count} elements (limit ${l.maxItems})`
      if (remaining.length + 1 > l.maxDepth) return `nested deeper than ${l.maxDepth}`
      if (count > 0) {
        remaining.push(map ? count * 2 : count)
        isMap.push(map)
        continue
      }
    }
    // One item complete: close every container it completes.
    while (remaining.length > 0) {
      const i = remaining.length - 1
      if (--remaining[i] > 0) break
      remaining.pop()
      isMap.pop()
    }
    if (remaining.length === 0) break
  }
  return pos === len ? null : `${len - pos} bytes after the message`
}
