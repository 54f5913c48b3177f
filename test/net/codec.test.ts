import { decode, encode } from '@msgpack/msgpack'
import { describe, expect, it } from 'vitest'
import type { Message } from '../../src/core/types.ts'
import { decodeMessage, encodeMessage, MAX_MESSAGE_BYTES, messageTypes } from '../../src/core/codec.ts'

const member = { id: 'node-1', peer: '12D3KooWabc', addrs: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWabc'], incarnation: 3, state: 'alive' as const }
const config = { version: 2, term: 5, voters: ['node-1', 'node-2'] }

const samples: Message[] = [
  { t: 'ping', seq: 1, from: 'node-1', gossip: [member, { ...member, id: 'node-2', state: 'suspect', by: 'node-3' }] },
  { t: 'ack', seq: 1, from: 'node-2', gossip: [] },
  { t: 'nack', seq: 7, from: 'node-3' },
  { t: 'ping-req', seq: 9, from: 'node-1', target: 'node-4', targetPeer: '12D3KooWdef' },
  { t: 'sync', cluster: 'k1', from: 'node-1', reply: false, members: [member], config, maxTerm: 5 },
  { t: 'sync', cluster: 'k1', from: 'node-1', reply: true, members: [], config: null, maxTerm: 0 },
  { t: 'digest', from: 'node-1', digest: '0123456789abcdef' },
  { t: 'updates', from: 'node-1', updates: [member] },
  { t: 'lease-req', cluster: 'k1', from: 'node-1', seq: 4, term: 5, master: true, configVersion: 2, config },
  { t: 'lease-req', cluster: 'k1', from: 'node-1', seq: 5, term: 5, master: false, configVersion: 2 },
  { t: 'lease-ack', cluster: 'k1', from: 'node-2', seq: 4, term: 5, granted: true, durationMs: 1200, maxTerm: 5, configVersion: 2 },
  { t: 'lease-ack', cluster: 'k1', from: 'node-2', seq: 4, term: 5, granted: false, durationMs: 0, maxTerm: 6, configVersion: 2, reason: 'not-lowest', holder: 'node-0' },
  { t: 'lease-ack', cluster: 'k1', from: 'node-2', seq: 5, term: 5, granted: false, durationMs: 0, maxTerm: 6, configVersion: 3, reason: 'stale-config', config },
  { t: 'lease-release', from: 'node-1', term: 5 },
  { t: 'leave', from: 'node-4', incarnation: 8 },
  { t: 'remove', from: 'node-2', id: 'node-5' },
]

describe('codec', () => {
  it('round-trips every message type', () => {
    expect(new Set(samples.map((m) => m.t))).toEqual(new Set(messageTypes))
    for (const msg of samples) {
      const res = decodeMessage(encodeMessage(msg))
      expect(res).toEqual({ ok: true, msg })
    }
  })

  it('drops undefined optional fields instead of sending nil', () => {
    const msg = { t: 'lease-ack', cluster: 'k1', from: 'a', seq: 1, term: 1, granted: true, durationMs: 1, maxTerm: 1, configVersion: 0, reason: undefined } as Message
    const res = decodeMessage(encodeMessage(msg))
    expect(res.ok).toBe(true)
    if (res.ok) expect('reason' in res.msg).toBe(false)
  })

  it('rejects garbage bytes as undecodable', () => {
    for (const bytes of [new Uint8Array([0xc1]), new Uint8Array([0xd9, 0xff, 0x41]), new Uint8Array(0)]) {
      const res = decodeMessage(bytes)
      expect(res.ok).toBe(false)
      // The structural scan sees most framing errors before msgpack does.
      if (!res.ok) expect(['undecodable', 'structure']).toContain(res.reason)
    }
  })

  it('rejects random bytes without throwing', () => {
    let seed = 42
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
    for (let i = 0; i < 500; i++) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256))
      const res = decodeMessage(bytes)
      // random bytes may decode to msgpack values, but never to a valid message
      expect(res.ok).toBe(false)
    }
  })

  it('rejects well-formed msgpack that fails the schema, naming the field', () => {
    const cases: [unknown, string][] = [
      [{ t: 'ping', seq: -1, from: 'a', gossip: [] }, 'seq'],
      [{ t: 'ping', seq: 1.5, from: 'a', gossip: [] }, 'seq'],
      [{ t: 'ping', seq: 1, from: 'a', gossip: 5 }, 'gossip'],
      [{ t: 'ping', seq: 1, from: 'a', gossip: [], cluster: new Uint8Array(9) }, 'cluster'],
      [{ t: 'ack', seq: 1, from: 'a', gossip: [{ ...member, state: 'zombie' }] }, 'gossip.0.state'],
      [{ t: 'bogus', from: 'a' }, 't'],
    ]
    for (const [value, path] of cases) {
      const res = decodeMessage(encode(value))
      expect(res.ok).toBe(false)
      if (!res.ok) {
        expect(res.reason).toBe('schema')
        expect(res.detail.startsWith(path)).toBe(true)
      }
    }
    // Not an object at all, nor a short array: refused by the structural scan before decoding.
    for (const value of [Array.from({ length: 13 }, () => 1), 'just a string']) {
      expect(decodeMessage(encode(value))).toMatchObject({ ok: false, reason: 'structure', detail: 'root is not a map or a short array' })
    }
    // A short array is read as a positional message (here an ack: seq 2, from 3) and judged by the schema.
    expect(decodeMessage(encode([1, 2, 3]))).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringMatching(/^from: /) })
    expect(decodeMessage(encode([99, 2, 3]))).toMatchObject({ ok: false, reason: 'schema' })
  })

  it('sends one-letter field names and a numbered type, and still takes the long names', () => {
    const msg: Message = { t: 'updates', from: 'node-1', updates: [member] }
    const wire = decode(encodeMessage(msg)) as Record<string, unknown>
    expect(Object.keys(wire)).toEqual(['t', 'f', 'U'])
    expect(wire.t).toBe(6)
    expect(Object.keys((wire.U as object[])[0]!).every((k) => k.length === 1)).toBe(true)
    for (const msg of samples) expect(decodeMessage(encode(msg))).toEqual({ ok: true, msg })
  })

  it('sends probes and lease messages as arrays, a cluster id as its 10 bytes, no empty gossip list', () => {
    const cluster = '019ad9f1c2a01f3e4b5c'
    const bin = Uint8Array.from([0x01, 0x9a, 0xd9, 0xf1, 0xc2, 0xa0, 0x1f, 0x3e, 0x4b, 0x5c])
    const ping: Message = { t: 'ping', seq: 123456, from: 'node-3', gossip: [], cluster, master: { id: 'node-1', term: 3, ms: 1150 } }
    const bytes = encodeMessage(ping)
    // 108 bytes with the long names, 62 with one-letter names, 52 with the cluster id as bytes and no empty list.
    expect(bytes.byteLength).toBe(38)
    expect(decode(bytes)).toEqual([0, 123456, 'node-3', bin, ['node-1', 3, 1150]])
    expect(decodeMessage(bytes)).toEqual({ ok: true, msg: ping })
    // The map forms (what agents before this encoding send): one-letter names, long names, the id as a string.
    for (const old of [{ t: 0, s: 123456, f: 'node-3', g: [], c: cluster, m: { i: 'node-1', e: 3, q: 1150 } }, { ...ping }]) {
      expect(decodeMessage(encode(old))).toEqual({ ok: true, msg: ping })
    }
    // nil at an optional position is an absent field; trailing ones are left off; a later field needs no earlier one.
    const revive: Message = { t: 'ping', seq: 1, from: 'node-3', gossip: [], revive: true }
    expect(decode(encodeMessage(revive))).toEqual([0, 1, 'node-3', null, null, null, true])
    expect(decodeMessage(encodeMessage(revive))).toEqual({ ok: true, msg: revive })
    // A required field that may be null keeps its null (a grant from a voter in no cluster yet).
    const nullCluster: Message = { t: 'lease-ack', cluster: null, from: 'node-2', seq: 4, term: 5, granted: false, durationMs: 0, maxTerm: 6, configVersion: 0, reason: 'not-voter' }
    expect(decodeMessage(encodeMessage(nullCluster))).toEqual({ ok: true, msg: nullCluster })
    // Positions past the ones this decoder knows are ignored (a field appended by a later version).
    expect(decodeMessage(encode([...(decode(bytes) as unknown[]), null, null, 'later']))).toEqual({ ok: true, msg: ping })
    const sync: Message = { t: 'sync', from: 'node-1', reply: true, members: [], cluster, retired: ['0189abcdef0123456789', 'k1'], config: null, maxTerm: 2 }
    expect((decode(encodeMessage(sync)) as Record<string, unknown>).c).toEqual(bin)
    expect(decodeMessage(encodeMessage(sync))).toEqual({ ok: true, msg: sync })
  })

  it('never renames the keys of tags (the user\'s own)', () => {
    const msg: Message = { t: 'updates', from: 'node-1', updates: [{ ...member, tags: { seq: 'a', s: 'b', from: 'c', f: 'd' } }] }
    expect(decodeMessage(encodeMessage(msg))).toEqual({ ok: true, msg })
  })

  it('refuses a field sent under its wire name and its long name at once, naming it', () => {
    for (const value of [{ t: 0, s: 1, seq: 2, f: 'a', g: [] }, { t: 'updates', f: 'a', U: [{ ...member, i: 'node-9' }] }]) {
      const res = decodeMessage(encode(value))
      expect(res).toMatchObject({ ok: false, reason: 'schema' })
      if (!res.ok) expect(res.detail).toMatch(/^field (seq|id) twice$/)
    }
  })

  it('rejects oversized input before decoding', () => {
    const res = decodeMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1))
    expect(res).toMatchObject({ ok: false, reason: 'too-big' })
    const big = encode({ t: 'updates', from: 'a', updates: [], pad: 'x'.repeat(MAX_MESSAGE_BYTES) })
    expect(decodeMessage(big)).toMatchObject({ ok: false, reason: 'too-big' })
  })

  it('refuses to encode a message over the limit', () => {
    const updates = Array.from({ length: 400 }, (_, i) => ({ ...member, id: `node-${i}`, addrs: ['/ip4/127.0.0.1/tcp/1/p2p/' + 'x'.repeat(200)] }))
    expect(() => encodeMessage({ t: 'updates', from: 'a', updates })).toThrow(RangeError)
  })
})
