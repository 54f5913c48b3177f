// Property-based fuzz (fast-check, pinned in package.json) of the wire decoder and of the core's receive path.
//   1. decodeMessage never throws, whatever the bytes: random bytes, msgpack of arbitrary values, and valid
//      messages with bytes flipped; what it accepts re-encodes within the size limit.
//   2. The receive path of a converged, signing cluster (the simulator's cores with Ed25519): a peer holding the
//      key but no member's signing key feeds it any sequence of schema-valid messages that name real members,
//      terms around the real ones and far above, at one instant. The core never throws, keeps its term
//      invariants, never takes a term beyond the bound, and nobody is evicted or made to leave.
import fc from 'fast-check'
import { encode } from '@msgpack/msgpack'
import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeMessage, MAX_MESSAGE_BYTES } from '../../src/core/codec.ts'
import { MAX_TERM_STEP } from '../../src/core/trust.ts'
import type { MemberUpdate, Message } from '../../src/core/types.ts'
import { defaultNetwork } from '../../src/sim/network.ts'
import { World, worldOptions } from '../../src/sim/world.ts'

const RUNS = Number(process.env.FUZZ_RUNS ?? 300)

describe('wire decoder fuzz', () => {
  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const r = decodeMessage(bytes)
        if (r.ok) expect(encodeMessage(r.msg).byteLength).toBeLessThanOrEqual(MAX_MESSAGE_BYTES)
      }),
      { numRuns: RUNS * 3 },
    )
  })

  it('never throws on msgpack of arbitrary values, and accepts only what the schema allows', () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 4, withTypedArray: true, withBigInt: false }), fc.constantFrom('ping', 'ack', 'sync', 'updates', 'lease-req', 'lease-ack', 'leave', 'remove'), (v, t) => {
        for (const value of [v, typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...v, t } : { t, from: v }]) {
          let bytes: Uint8Array
          try {
            bytes = encode(value)
          } catch {
            return // not encodable: nothing to send
          }
          const r = decodeMessage(bytes)
          if (r.ok) expect(typeof r.msg.from).toBe('string')
        }
      }),
      { numRuns: RUNS * 3 },
    )
  })

  it('never throws on valid messages with bytes flipped or cut', () => {
    const valid: Message[] = [
      { t: 'ping', seq: 1, from: 'node-1', gossip: [{ id: 'node-2', peer: 'p2', addrs: ['/ip4/127.0.0.1/tcp/1'], incarnation: 3, state: 'alive', tags: { a: 'b' }, sig: new Uint8Array(64) } as MemberUpdate], cluster: 'c1', master: { id: 'node-1', term: 4, ms: 100 } },
      { t: 'lease-ack', from: 'node-2', seq: 9, cluster: 'c1', term: 4, granted: true, durationMs: 3000, maxTerm: 4, configVersion: 2, config: { version: 2, term: 3, voters: ['node-1', 'node-2'] } },
      { t: 'sync', from: 'node-3', reply: false, members: [], cluster: null, config: null, maxTerm: 0 },
    ]
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.option(fc.nat()), (msg, flips, cut) => {
        const bytes = encodeMessage(msg).slice()
        for (const [i, b] of flips) bytes[i % bytes.length] = b
        decodeMessage(cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1)))
      }),
      { numRuns: RUNS * 3 },
    )
  })
})

/** A converged 4-node signing cluster in the simulator (no faults, no loss). */
function convergedWorld(seed: number): World {
  const world = new World(worldOptions(seed, { expect: 4, network: { ...defaultNetwork, loss: 0, duplicate: 0 }, skew: 0 }))
  for (let i = 1; i <= 4; i++) world.addNode(i)
  for (const n of world.nodes) world.call(0, () => world.start(n, world.nodes.filter((x) => x !== n)))
  world.runUntil(15_000)
  return world
}

describe('core receive path fuzz', () => {
  it('a key holder without the members\' keys cannot make the core throw, take a wild term, or evict anyone', () => {
    const world = convergedWorld(7)
    expect(world.checker.violations).toEqual([])
    const target = world.nodes[1]
    const core = target.core!
    const now = world.local(target)
    const before = core.status(now)
    expect(before.master?.id).toBe('node-1')
    const ids = before.members.map((m) => m.id)
    const peers = before.members.map((m) => m.peer)
    const cluster = before.clusterId!
    const evil = world.nodes[3].peer // an authenticated peer that is a member: the worst case (node-4 turned hostile)
    const t0 = before.maxTerm

    const id = fc.constantFrom(...ids, 'ghost', '0')
    const peer = fc.constantFrom(...peers, 'p-ghost')
    const term = fc.oneof(fc.integer({ min: 0, max: t0 + 3 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }))
    const inc = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }))
    const update = fc.record({
      id,
      peer,
      addrs: fc.constant(['/sim/x']),
      incarnation: inc,
      state: fc.constantFrom('alive', 'suspect', 'dead', 'left' as const),
      by: id,
      sig: fc.option(fc.uint8Array({ minLength: 64, maxLength: 64 }), { nil: undefined }),
    }).map((u) => {
      const { sig, ...rest } = u
      return (sig ? ({ ...rest, sig } as unknown as MemberUpdate) : rest) as MemberUpdate
    })
    const config = fc.record({ version: fc.nat({ max: 20_000 }), term, voters: fc.array(id, { maxLength: 8 }) })
    const message: fc.Arbitrary<Message> = fc.oneof(
      fc.record({ t: fc.constant('ping' as const), seq: fc.nat(), from: id, gossip: fc.array(update, { maxLength: 4 }), cluster: fc.constant(cluster), master: fc.record({ id, term, ms: fc.nat({ max: 10_000 }) }) }),
      fc.record({ t: fc.constant('updates' as const), from: id, updates: fc.array(update, { maxLength: 4 }) }),
      fc.record({ t: fc.constant('sync' as const), from: id, reply: fc.boolean(), members: fc.array(update, { maxLength: 4 }), cluster: fc.constant(cluster), config: fc.option(config, { nil: null }), maxTerm: term }),
      fc.record({ t: fc.constant('lease-req' as const), from: id, seq: fc.nat(), cluster: fc.constant(cluster), term, master: fc.boolean(), configVersion: fc.nat({ max: 20 }) }),
      fc.record({ t: fc.constant('lease-ack' as const), from: id, seq: fc.nat(), cluster: fc.constant(cluster), term, granted: fc.boolean(), durationMs: fc.nat({ max: 60_000 }), maxTerm: term, configVersion: fc.nat({ max: 20 }) }),
      fc.record({ t: fc.constant('lease-release' as const), from: id, term }),
      fc.record({ t: fc.constant('leave' as const), from: id, incarnation: inc }),
      fc.record({ t: fc.constant('remove' as const), from: id, id }),
    )

    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 20 }), (msgs) => {
        for (const m of msgs) {
          const d = decodeMessage(encodeMessage(m)) // what the wire would deliver
          if (!d.ok) continue
          core.receive(evil, d.msg, now)
        }
        const s = core.status(now)
        expect(s.maxTerm).toBeLessThanOrEqual(t0 + MAX_TERM_STEP)
        for (const m of s.members) if (m.id !== 'node-4') expect(`${m.id}:${m.state}`).toBe(`${m.id}:alive`)
        expect(s.members.map((m) => m.id).sort()).toEqual([...ids].sort())
        expect(s.config?.voters.every((v) => ids.includes(v))).toBe(true)
      }),
      { numRuns: RUNS },
    )
  })
})
