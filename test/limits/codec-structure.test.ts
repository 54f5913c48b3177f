// The structural scan before decoding: what no protocol message looks like is refused without allocating,
// real messages (up to a full-size sync) pass, and the scan agrees with msgpack's framing.
import { decode, encode } from '@msgpack/msgpack'
import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeMessage, MAX_MESSAGE_BYTES, MESSAGE_SCAN_LIMITS } from '../../src/core/codec.ts'
import { scanMsgpack, type ScanLimits } from '../../src/core/msgpack-scan.ts'
import type { Message } from '../../src/core/types.ts'

const member = (i: number) => ({
  id: `node-${i}`,
  peer: `12D3KooWQ8ks3Pz1yq3pZb7Xx1Xk9bP4cY${String(i).padStart(6, '0')}abcdefghijk`,
  addrs: [`/ip4/10.0.0.${i % 250}/tcp/7946`],
  incarnation: i,
  state: 'alive' as const,
})

describe('structural scan of membership messages', () => {
  it('refuses a 4 KiB frame of 4,096 empty maps (bare, or as gossip or members) before decoding', () => {
    const bare = new Uint8Array(3 + 4096)
    bare.set([0xdc, 0x10, 0x00])
    bare.fill(0x80, 3)
    expect(decodeMessage(bare)).toMatchObject({ ok: false, reason: 'structure', detail: 'root is not a map or a short array' })
    const gossip = encode({ t: 'ping', seq: 1, from: 'x', gossip: Array.from({ length: 4000 }, () => ({})) })
    expect(gossip.byteLength).toBeLessThanOrEqual(4096)
    expect(decodeMessage(gossip)).toMatchObject({ ok: false, reason: 'structure', detail: expect.stringMatching(/^more than \d+ maps and arrays in 4030 bytes$/) })
    const sync = encode({ t: 'sync', cluster: 'k1', from: 'x', reply: false, members: Array.from({ length: 4000 }, () => ({})), config: null, maxTerm: 1 })
    expect(decodeMessage(sync)).toMatchObject({ ok: false, reason: 'structure' })
  })

  it('lets a real full-size sync through (400 members, close to the 64 KiB limit)', () => {
    const msg: Message = { t: 'sync', cluster: 'k1', from: 'node-1', reply: true, members: Array.from({ length: 400 }, (_, i) => member(i)), config: { version: 3, term: 9, voters: ['node-1', 'node-2', 'node-3'] }, maxTerm: 9 }
    const bytes = encodeMessage(msg)
    expect(bytes.byteLength).toBeGreaterThan(MAX_MESSAGE_BYTES / 2)
    expect(scanMsgpack(bytes, MESSAGE_SCAN_LIMITS)).toBeNull()
    expect(decodeMessage(bytes)).toEqual({ ok: true, msg })
  })

  it('refuses nesting, misplaced binary, oversized strings, trailing bytes and cut frames', () => {
    const deep = new Uint8Array(1000).fill(0x81 /* map of 1 */)
    expect(scanMsgpack(deep, MESSAGE_SCAN_LIMITS)).toMatch(/^(map key is not a string|nested deeper than 4)$/)
    const deepInGossip = encode({ t: 'updates', from: 'a', updates: [{ id: 'x', addrs: [[['deep']]] }] })
    expect(decodeMessage(deepInGossip)).toMatchObject({ reason: 'structure', detail: 'nested deeper than 4' })
    // Binary is allowed by the scan (self-claim signatures are 64-byte bins), and refused by the schema anywhere else.
    expect(decodeMessage(encode({ t: 'updates', from: new Uint8Array(8), updates: [] }))).toMatchObject({ ok: false, reason: 'schema' })
    expect(decodeMessage(encode({ t: 'updates', from: 'x'.repeat(2000), updates: [] }))).toMatchObject({ reason: 'structure', detail: 'string of 2000 bytes (limit 1024)' })
    const ok = encode({ t: 'nack', seq: 1, from: 'a' })
    expect(decodeMessage(Uint8Array.from([...ok, 0xc0]))).toMatchObject({ reason: 'structure', detail: '1 bytes after the message' })
    expect(decodeMessage(ok.subarray(0, ok.length - 1))).toMatchObject({ reason: 'structure', detail: 'truncated' })
    expect(decodeMessage(Uint8Array.from([0x81, 0x01, 0xc0]) /* {1: nil} */)).toMatchObject({ reason: 'structure', detail: 'map key is not a string' })
  })

  it('validates an array element by element and stops at the first bad one', () => {
    const updates = Array.from({ length: 300 }, (_, i) => (i === 5 ? { ...member(i), state: 'zombie' } : member(i)))
    const res = decodeMessage(encode({ t: 'updates', from: 'a', updates }))
    expect(res).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringMatching(/^updates\.5\.state: /) })
  })

  it('agrees with msgpack on arbitrary values and never throws on random bytes', () => {
    const open: ScanLimits = { maxDepth: 64, maxItems: 1 << 20, maxStringBytes: 1 << 20, maxContainers: 1 << 20, minBytesPerContainer: 1, rootMap: false, allowBinary: true }
    let seed = 7
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
    const value = (d: number): unknown => {
      const k = Math.floor(rnd() * (d > 4 ? 6 : 9))
      if (k === 0) return null
      if (k === 1) return rnd() < 0.5
      if (k === 2) return Math.floor((rnd() - 0.5) * 2 ** (rnd() * 60))
      if (k === 3) return rnd() * 1e6
      if (k === 4) return 'é'.repeat(Math.floor(rnd() * 40000) % (rnd() < 0.9 ? 40 : 40000))
      if (k === 5) return new Uint8Array(Math.floor(rnd() * 300))
      if (k === 6) return Array.from({ length: Math.floor(rnd() * 20) }, () => value(d + 1))
      return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 20) }, (_, i) => [`k${i}`, value(d + 1)]))
    }
    for (let i = 0; i < 300; i++) {
      const bytes = encode(value(0))
      expect(scanMsgpack(bytes, open)).toBeNull()
      if (bytes.length > 1) expect(scanMsgpack(bytes.subarray(0, bytes.length - 1), open)).not.toBeNull()
    }
    for (let i = 0; i < 2000; i++) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256))
      const verdict = scanMsgpack(bytes, open)
      let decodes = true
      try {
        decode(bytes)
      } catch {
        decodes = false
      }
      // Whatever the scan lets through, msgpack can decode (it may refuse more: it is stricter about nothing else).
      if (verdict === null) expect(decodes).toBe(true)
    }
  })
})
