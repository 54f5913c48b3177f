// The cluster key protector on real libp2p nodes on 127.0.0.1: same key connects, a wrong key or no key is
// refused before libp2p speaks, several accepted keys let a cluster rotate, and a key ring can be swapped live.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { clusterKeyProtector, KeyRing, newKeyText, parseKeyFile, type ClusterKeyRefused } from '../../src/net/cluster-key.ts'
import { buildNode, type Node } from '../../src/net/node.ts'

const nodes: Node[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})

async function start(ring?: KeyRing, refused?: ClusterKeyRefused[]): Promise<Node> {
  const node = await buildNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: '/ip4/127.0.0.1/tcp/0',
    bootstrapWithPeerId: [],
    mdns: false,
    ...(ring ? { connectionProtector: clusterKeyProtector(ring, { refused: (e) => refused?.push(e) }) } : {}),
  })
  await node.start()
  nodes.push(node)
  return node
}

const key = () => parseKeyFile(newKeyText())

async function connects(a: Node, b: Node): Promise<boolean> {
  try {
    await a.dial(b.getMultiaddrs()[0], { signal: AbortSignal.timeout(4_000) })
  } catch {
    await new Promise((r) => setTimeout(r, 200))
    return false
  }
  // The listener may still refuse after the dialer's upgrade resolved: check both ends.
  await new Promise((r) => setTimeout(r, 200))
  return a.getConnections(b.peerId).length > 0 && b.getConnections(a.peerId).length > 0
}

describe('cluster key', () => {
  it('parses pnet text and bare hex, first key dials, rejects junk', () => {
    const [k1] = key()
    const two = parseKeyFile(`# rotation\n${newKeyText()}\n${k1.key.toString('hex')}\n`)
    expect(two).toHaveLength(2)
    expect(two[1].id).toBe(k1.id)
    expect(() => parseKeyFile('')).toThrow(/no key/)
    expect(() => parseKeyFile('abc')).toThrow(/64 hex digits/)
    expect(() => parseKeyFile('/key/swarm/psk/1.0.0/\n/base64/\nxx')).toThrow(/base16/)
  })

  it('same key connects and carries traffic; wrong key and no key are refused with a reason', async () => {
    const k = key()
    const refusedAtB: ClusterKeyRefused[] = []
    const a = await start(new KeyRing(k))
    const b = await start(new KeyRing(k), refusedAtB)
    expect(await connects(a, b)).toBe(true)
    const rtt = await a.services.ping.ping(b.peerId, { signal: AbortSignal.timeout(3_000) })
    expect(rtt).toBeGreaterThanOrEqual(0)

    const wrong = await start(new KeyRing(key()))
    expect(await connects(wrong, b)).toBe(false)
    expect(refusedAtB.map((e) => e.reason)).toContain('wrong-key')

    const plain = await start()
    expect(await connects(plain, b)).toBe(false)
    expect(await connects(b, plain)).toBe(false)
    expect(refusedAtB.some((e) => e.reason === 'no-handshake')).toBe(true)
    expect(b.getConnections().map((c) => c.remotePeer.toString())).toEqual([a.peerId.toString()])
  }, 30_000)

  it('rotation: nodes with overlapping key lists connect in both directions; a ring swapped live takes effect', async () => {
    const [oldK] = key()
    const [newK] = key()
    const a = await start(new KeyRing([oldK, newK])) // step 1: new key accepted, old still dialed
    const bRing = new KeyRing([newK, oldK]) // step 2 already: dials with the new key
    const b = await start(bRing)
    expect(await connects(a, b)).toBe(true)
    const c = await start(new KeyRing([newK])) // step 3: old key dropped
    expect(await connects(c, b)).toBe(true)
    // c only accepts newK: a, still dialing with oldK, is refused by c (whoever dials) until a moves newK first.
    expect(await connects(c, a)).toBe(false)
    expect(await connects(a, c)).toBe(false)
    bRing.replace([oldK])
    const e = await start(new KeyRing([newK]))
    expect(await connects(b, e)).toBe(false) // b now dials and accepts oldK only
  }, 40_000)
})
