// The agent's libp2p identity lives in <data-dir>/node.key, so a restarted agent keeps its peer id.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

export class KeyError extends Error {
  override name = 'KeyError'
}

export async function loadOrCreateKey(dataDir: string): Promise<{ key: PrivateKey; created: boolean }> {
  const path = join(dataDir, 'node.key')
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  } catch (e) {
    throw new KeyError(`cannot create data dir ${dataDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
  if (existsSync(path)) {
    let bytes: Buffer
    try {
      bytes = readFileSync(path)
    } catch (e) {
      throw new KeyError(`cannot read node key ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    try {
      return { key: privateKeyFromProtobuf(bytes), created: false }
    } catch (e) {
      throw new KeyError(`node key ${path} is corrupt (${(e as Error).message}); move it away to create a new identity`)
    }
  }
  const key = await generateKeyPair('Ed25519')
  // Write to a temp file and rename, so a crash never leaves a half-written key.
  const tmp = `${path}.tmp-${process.pid}`
  try {
    writeFileSync(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
    chmodSync(tmp, 0o600)
    renameSync(tmp, path)
  } catch (e) {
    throw new KeyError(`cannot write node key ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
  return { key, created: true }
}
