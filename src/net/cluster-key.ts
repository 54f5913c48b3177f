// The cluster key: a private network over every libp2p connection, with several accepted keys so a cluster can
// rotate its key without downtime.
//
// Wire protocol ("conclave-psk/1"), run on the raw TCP connection before noise:
//   each side writes  nonce (32 random bytes) || proof (32 bytes) = HMAC-SHA256(dialKey, "conclave-psk/1 proof" || nonce)
//   each side reads the other's 64 bytes and looks for the accepted key whose proof matches; none: refused
//   ("wrong cluster key"), before a single byte of libp2p is exchanged.
//   Each direction is then encrypted with ChaCha20 under HMAC-SHA256(key, "conclave-psk/1 stream" || nonce) of its
//   writer (a fresh key per connection direction, so the zero IV never repeats under one key).
// Like libp2p's pnet (XSalsa20), the stream cipher gives confidentiality of the whole handshake and keeps
// outsiders out; integrity and peer authentication come from noise above it. Unlike pnet, the proof tells which
// key the other side dials with, so (1) a node accepts connections under any key of its list and (2) a wrong key
// is reported as such, not as a random handshake error. libp2p 2.x takes one connection protector per node, so
// this replaces @libp2p/pnet's preSharedKey (which has one key and no way to tell a wrong key from a broken line).
import { createCipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import type { ConnectionProtector, MultiaddrConnection } from '@libp2p/interface'
import { generateKey } from '@libp2p/pnet'
import { Uint8ArrayList } from 'uint8arraylist'

const PROOF_LABEL = Buffer.from('conclave-psk/1 proof')
const STREAM_LABEL = Buffer.from('conclave-psk/1 stream')
const NONCE_BYTES = 32
const PROOF_BYTES = 32
const HELLO_BYTES = NONCE_BYTES + PROOF_BYTES
/** Time a connection has to present its key proof (pnet's default nonce timeout is 1 s; 2 s leaves room for a loaded host). */
export const KEY_HANDSHAKE_TIMEOUT_MS = 2_000
/** At most this many keys in a key file: a rotation needs two; more only slow down every handshake. */
export const MAX_CLUSTER_KEYS = 8

export class ClusterKeyError extends Error {
  override name = 'ClusterKeyError'
}

/** A refused connection: the remote's proof matched none of our keys, or it never sent one. */
export class ClusterKeyRefused extends Error {
  override name = 'ClusterKeyRefused'
  constructor(
    readonly reason: 'wrong-key' | 'no-handshake',
    message: string,
  ) {
    super(message)
  }
}

export interface ClusterKey {
  key: Buffer
  /** Short fingerprint for logs and status (never the key): first 8 hex digits of SHA-256-HMAC of a fixed label. */
  id: string
}

/** A new key in libp2p's pnet text format ("/key/swarm/psk/1.0.0/\n/base16/\n<64 hex digits>"). */
export function newKeyText(): string {
  const bytes = new Uint8Array(95)
  generateKey(bytes)
  return Buffer.from(bytes).toString('utf8') + '\n'
}

export function fingerprint(key: Buffer): string {
  return createHmac('sha256', key).update('conclave-psk/1 fingerprint').digest('hex').slice(0, 8)
}

/**
 * Parse a key file: one or more keys, each either in pnet format or as a bare line of 64 hex digits; blank lines
 * and lines starting with # are ignored. The first key is the one this node dials with; all are accepted.
 */
export function parseKeyFile(text: string, path = 'cluster key file'): ClusterKey[] {
  const keys: ClusterKey[] = []
  const lines = text.split(/\r?\n/).map((l) => l.trim())
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (line === '' || line.startsWith('#')) continue
    let hex: string
    if (line === '/key/swarm/psk/1.0.0/') {
      if (lines[i + 1] !== '/base16/') throw new ClusterKeyError(`${path}:${i + 2}: expected "/base16/" (only base16 pnet keys are supported)`)
      hex = lines[i + 2] ?? ''
      i += 2
    } else hex = line
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ClusterKeyError(`${path}:${i + 1}: expected a key of 64 hex digits (make one with \`conclave keygen\`)`)
    const key = Buffer.from(hex, 'hex')
    keys.push({ key, id: fingerprint(key) })
  }
  if (keys.length === 0) throw new ClusterKeyError(`${path}: no key in the file (make one with \`conclave keygen --out ${path}\`)`)
  if (keys.length > MAX_CLUSTER_KEYS) throw new ClusterKeyError(`${path}: ${keys.length} keys, at most ${MAX_CLUSTER_KEYS} are allowed`)
  return keys
}

/** Read and parse a key file; refuses one that other users can read (it is the cluster's only secret). */
export function readKeyFile(path: string): ClusterKey[] {
  let text: string
  try {
    const st = statSync(path)
    if ((st.mode & 0o077) !== 0) {
      throw new ClusterKeyError(`cluster key file ${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 ${path}`)
    }
    text = readFileSync(path, 'utf8')
  } catch (e) {
    if (e instanceof ClusterKeyError) throw e
    throw new ClusterKeyError(`cannot read cluster key file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
  return parseKeyFile(text, path)
}

function hmac(key: Buffer, label: Buffer, nonce: Uint8Array): Buffer {
  return createHmac('sha256', key).update(label).update(nonce).digest()
}

function cipher(key: Buffer, nonce: Uint8Array): (chunk: Uint8Array) => Uint8Array {
  // A fresh key per direction of each connection, so the all-zero IV (counter and nonce) is never reused under one key.
  const c = createCipheriv('chacha20', hmac(key, STREAM_LABEL, nonce), Buffer.alloc(16))
  return (chunk) => c.update(chunk)
}

export interface KeyRingEvents {
  /** A connection under key `keyId` was accepted (`dialKey`: it is our first key). */
  accepted?(keyId: string, primary: boolean): void
  refused?(err: ClusterKeyRefused, remoteAddr: string): void
}

/** The accepted keys, replaceable while running (a SIGHUP re-reads the key file: rotation without a restart). */
export class KeyRing {
  private current: ClusterKey[]
  constructor(keys: ClusterKey[]) {
    if (keys.length === 0) throw new ClusterKeyError('a key ring needs at least one key')
    this.current = keys
  }
  get keys(): readonly ClusterKey[] {
    return this.current
  }
  get dialKey(): ClusterKey {
    return this.current[0]
  }
  replace(keys: ClusterKey[]): void {
    if (keys.length === 0) throw new ClusterKeyError('a key ring needs at least one key')
    this.current = keys
  }
  /** The accepted key whose proof over `nonce` is `proof`, if any. */
  match(nonce: Uint8Array, proof: Uint8Array): ClusterKey | undefined {
    for (const k of this.current) if (timingSafeEqual(hmac(k.key, PROOF_LABEL, nonce), proof)) return k
    return undefined
  }
}

class KeyRingProtector implements ConnectionProtector {
  constructor(
    private readonly ring: KeyRing,
    private readonly events: KeyRingEvents,
  ) {}

  readonly [Symbol.toStringTag] = 'conclave-psk'

  async protect(conn: MultiaddrConnection): Promise<MultiaddrConnection> {
    const dial = this.ring.dialKey
    const localNonce = randomBytes(NONCE_BYTES)
    const hello = Buffer.concat([localNonce, hmac(dial.key, PROOF_LABEL, localNonce)])
    const encrypt = cipher(dial.key, localNonce)

    // Outbound: our hello, then everything libp2p writes, encrypted. libp2p hands us its source once the
    // protected connection is returned, so the sink starts now and waits for it.
    type Upstream = AsyncIterable<Uint8Array | Uint8ArrayList> | Iterable<Uint8Array | Uint8ArrayList>
    let giveUpstream!: (s: Upstream) => void
    const upstream = new Promise<Upstream>((r) => (giveUpstream = r))
    const outbound = Promise.resolve(
      conn.sink(
        (async function* () {
          yield hello
          for await (const chunk of await upstream) {
            yield encrypt(chunk instanceof Uint8Array ? chunk : chunk.subarray())
          }
        })(),
      ),
    ).catch((e: Error) => conn.log.error('cluster key: outbound pipe failed: %s', e.message))

    // Inbound: read exactly the remote's hello, then decrypt the rest under the key its proof names.
    const it = conn.source[Symbol.asyncIterator]()
    const buf = new Uint8ArrayList()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ClusterKeyRefused('no-handshake', `no cluster key proof within ${KEY_HANDSHAKE_TIMEOUT_MS} ms (the remote runs without a cluster key, or is not a conclave agent)`)),
        KEY_HANDSHAKE_TIMEOUT_MS,
      )
    })
    try {
      while (buf.byteLength < HELLO_BYTES) {
        const r = await Promise.race([it.next(), timeout])
        if (r.done) throw new ClusterKeyRefused('no-handshake', 'the remote closed the connection before sending a cluster key proof (it runs without our key)')
        buf.append(r.value)
      }
    } catch (e) {
      const err = e instanceof ClusterKeyRefused ? e : new ClusterKeyRefused('no-handshake', `cluster key handshake failed: ${(e as Error).message}`)
      giveUpstream([])
      this.refuse(conn, err)
      throw err
    } finally {
      clearTimeout(timer)
    }
    const remoteHello = buf.subarray(0, HELLO_BYTES)
    const rest = buf.sublist(HELLO_BYTES)
    const key = this.ring.match(remoteHello.subarray(0, NONCE_BYTES), remoteHello.subarray(NONCE_BYTES))
    if (!key) {
      const err = new ClusterKeyRefused('wrong-key', 'wrong cluster key: the remote proved a key that is not in our cluster key file')
      giveUpstream([])
      this.refuse(conn, err)
      throw err
    }
    this.events.accepted?.(key.id, key === this.ring.dialKey)
    const decrypt = cipher(key.key, remoteHello.subarray(0, NONCE_BYTES))
    const source = (async function* () {
      if (rest.byteLength > 0) yield decrypt(rest.subarray())
      for (;;) {
        const r = await it.next()
        if (r.done) return
        yield decrypt(r.value instanceof Uint8Array ? r.value : r.value.subarray())
      }
    })()
    return {
      ...conn,
      source,
      sink: async (src: Upstream) => {
        giveUpstream(src)
        await outbound
      },
    }
  }

  private refuse(conn: MultiaddrConnection, err: ClusterKeyRefused): void {
    this.events.refused?.(err, conn.remoteAddr.toString())
    conn.abort(err)
  }
}

/** libp2p `connectionProtector` factory for a key ring. */
export function clusterKeyProtector(ring: KeyRing, events: KeyRingEvents = {}): () => ConnectionProtector {
  return () => new KeyRingProtector(ring, events)
}
