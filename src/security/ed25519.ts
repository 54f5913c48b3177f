// Ed25519 signing for the core's trust rules (src/core/trust.ts), with Node's crypto (synchronous, about 20-60 us
// per operation). The agent signs with its libp2p key and verifies with the public key inside each peer id; the
// simulator derives one key per simulated node from the run's seed, so runs stay deterministic (Ed25519
// signatures are deterministic, RFC 8032).
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { TrustCrypto } from '../core/trust.ts'

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
/** Operations done in this process (the signing benchmark reads them). */
/** `verifyCalls`: verifications asked for; `verify`: done for real (fewer when verdicts are shared). */
export const ed25519Ops = { sign: 0, verify: 0, verifyCalls: 0 }

/** Shared verdicts kept (simulator). */
const MAX_SHARED_VERDICTS = 65_536
/** Public keys kept per verifier: one per member, bounded like the member table. */
const MAX_CACHED_KEYS = 8192

export function privateKeyFromSeed(seed32: Uint8Array): KeyObject {
  if (seed32.byteLength !== 32) throw new Error('an Ed25519 seed is 32 bytes')
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed32]), format: 'der', type: 'pkcs8' })
}

export function publicKeyFromRaw(raw32: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw32]), format: 'der', type: 'spki' })
}

export function rawPublicKey(priv: KeyObject): Uint8Array {
  const der = createPublicKey(priv).export({ format: 'der', type: 'spki' })
  return new Uint8Array(der.subarray(der.byteLength - 32))
}

/**
 * A signer/verifier pair; `publicKeyOf` maps a peer to its raw 32-byte public key (undefined: unknown, never valid).
 * `shared`: verdicts shared by several verifiers in one process (the simulator's cores): verifying the same bytes
 * under the same key always gives the same answer, so one real verification serves them all.
 */
export function ed25519Trust(priv: KeyObject, publicKeyOf: (peer: string) => Uint8Array | undefined, shared?: Map<string, boolean>): TrustCrypto {
  const keys = new Map<string, KeyObject | null>()
  const keyOf = (peer: string): KeyObject | null => {
    let k = keys.get(peer)
    if (k !== undefined) return k
    const raw = publicKeyOf(peer)
    k = raw && raw.byteLength === 32 ? publicKeyFromRaw(raw) : null
    if (keys.size >= MAX_CACHED_KEYS) keys.delete(keys.keys().next().value!)
    keys.set(peer, k)
    return k
  }
  return {
    sign: (data) => {
      ed25519Ops.sign++
      return new Uint8Array(sign(null, data, priv))
    },
    verify(peer, data, sig) {
      ed25519Ops.verifyCalls++
      const key = shared ? `${peer}|${Buffer.from(sig).toString('base64')}|${Buffer.from(data).toString('base64')}` : ''
      const known = shared?.get(key)
      if (known !== undefined) return known
      ed25519Ops.verify++
      const k = keyOf(peer)
      let ok = false
      if (k) {
        try {
          ok = verify(null, data, k, sig)
        } catch {
          ok = false
        }
      }
      if (shared) {
        if (shared.size >= MAX_SHARED_VERDICTS) shared.delete(shared.keys().next().value!)
        shared.set(key, ok)
      }
      return ok
    },
  }
}

/** The agent's: its libp2p Ed25519 key; a peer id string carries its public key (identity multihash). */
export function libp2pTrust(key: PrivateKey): TrustCrypto {
  if (key.type !== 'Ed25519') throw new Error(`node key is ${key.type}; the trust rules need Ed25519`)
  const priv = privateKeyFromSeed(key.raw.subarray(0, 32))
  return ed25519Trust(priv, (peer) => {
    try {
      const pub = peerIdFromString(peer).publicKey
      return pub?.type === 'Ed25519' ? pub.raw : undefined
    } catch {
      return undefined
    }
  })
}

/** The simulator's: a key per node derived from the run's seed and the node's peer string. */
export function simKeySeed(runSeed: number, peer: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`conclave-sim-key/1|${runSeed}|${peer}`).digest())
}
