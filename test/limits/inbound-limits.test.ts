// The building blocks of the shell's inbound limits, on in-memory streams and a fake clock.
import { describe, expect, it } from 'vitest'
import { Uint8ArrayList } from 'uint8arraylist'
import { FrameReader, PeerRate, SharedBudget, TokenBucket } from '../../src/net/limits.ts'
import { encodeVarint } from './flood-tools.ts'

async function* chunks(...parts: number[][]): AsyncGenerator<Uint8ArrayList> {
  for (const p of parts) yield new Uint8ArrayList(Uint8Array.from(p))
}

describe('FrameReader', () => {
  it('reads frames split anywhere across chunks, then a clean end', async () => {
    const r = new FrameReader(chunks([3, 1], [2], [3, 2, 9], [8], []))
    expect(await r.read(100)).toEqual({ kind: 'frame', bytes: Uint8Array.from([1, 2, 3]) })
    expect(await r.read(100)).toEqual({ kind: 'frame', bytes: Uint8Array.from([9, 8]) })
    expect(await r.read(100)).toEqual({ kind: 'end' })
  })

  it('refuses an overlong varint, a length over the bound, and reports frames the stream cut', async () => {
    expect(await new FrameReader(chunks(new Array(12).fill(0xff))).read(65536)).toMatchObject({ kind: 'bad', reason: 'bad-length' })
    expect(await new FrameReader(chunks(encodeVarint(70_000))).read(65536)).toMatchObject({ kind: 'bad', reason: 'too-big', detail: 'frame of 70000 bytes (limit 65536)' })
    expect(await new FrameReader(chunks([...encodeVarint(1000), 1, 2])).read(65536)).toMatchObject({ kind: 'bad', reason: 'truncated', detail: 'stream ended after 2 of 1000 announced bytes' })
    expect(await new FrameReader(chunks([0x80])).read(65536)).toMatchObject({ kind: 'bad', reason: 'truncated', detail: 'stream ended inside a length prefix' })
  })

  it('asks admit() with the announced length before reading the body', async () => {
    let asked = -1
    let pulled = 0
    async function* src(): AsyncGenerator<Uint8Array> {
      yield Uint8Array.from(encodeVarint(4 * 1024 * 1024))
      pulled++
      yield new Uint8Array(1024)
      pulled++
    }
    const res = await new FrameReader(src()).read(4 * 1024 * 1024, (n) => ((asked = n), 'over budget'))
    expect(res).toEqual({ kind: 'refused', detail: 'over budget' })
    expect(asked).toBe(4 * 1024 * 1024)
    expect(pulled).toBe(0) // not a byte of the body was pulled
  })

  it('gives up at its deadline', async () => {
    async function* never(): AsyncGenerator<Uint8Array> {
      yield Uint8Array.from([5])
      await new Promise(() => {})
    }
    const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 50))
    expect(await new FrameReader(never()).read(100, undefined, deadline)).toEqual({ kind: 'timeout' })
  })
})

describe('budgets', () => {
  it('a token bucket gives its burst, then its rate', () => {
    const b = new TokenBucket(10, 20, 0)
    let n = 0
    while (b.take(1, 0)) n++
    expect(n).toBe(20)
    expect(b.take(1, 50)).toBe(false)
    expect(b.take(1, 100)).toBe(true) // 10/s: one token per 100 ms
    expect(b.take(5, 600)).toBe(true)
    expect(b.idle(10_000)).toBe(true)
  })

  it('a peer rate refuses beyond either messages or bytes, per peer, and forgets idle peers', () => {
    let now = 0
    const r = new PeerRate({ membershipMsgsPerSec: 10, membershipMsgsBurst: 10, membershipBytesPerSec: 1000, membershipBytesBurst: 1000 }, () => now)
    for (let i = 0; i < 10; i++) expect(r.allow('a', 10)).toBe(true)
    expect(r.allow('a', 10)).toBe(false)
    expect(r.allow('b', 10)).toBe(true) // another peer has its own budget
    expect(r.allow('c', 2000)).toBe(false) // bytes
    expect(r.allow('c', 10)).toBe(true) // the refused message spent nothing
    now = 60_000
    r.allow('d', 1)
    expect(r.size).toBe(1)
  })

  it('a shared budget bounds per peer and in total, and release gives back exactly once', () => {
    const b = new SharedBudget(10, 15)
    const a1 = b.reserve('a', 8)
    expect('release' in a1).toBe(true)
    expect(b.reserve('a', 3)).toEqual({ refused: 'peer', held: 8, max: 10 })
    const b1 = b.reserve('b', 7)
    expect(b.reserve('c', 1)).toEqual({ refused: 'total', held: 15, max: 15 })
    if ('release' in a1) {
      a1.release()
      a1.release()
    }
    expect(b.held()).toBe(7)
    expect(b.held('a')).toBe(0)
    if ('release' in b1) b1.release()
    expect(b.held()).toBe(0)
  })
})
