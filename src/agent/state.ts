// The node's durable protocol state in <data-dir>/state.json: cluster id, voter config, terms, incarnation and the
// peers to rejoin. The core asks for a write with a `persist` effect; write() returns only once the file is on disk
// (written to a temp file, fsynced, renamed over the old one, directory fsynced), and the agent carries out the
// step's other effects only after it (durable before visible).
//
// The file carries a format number and a SHA-256 of its content. A file that cannot be read back exactly stops the
// agent (exit 2) with the way out: a node must never silently forget the terms it promised, since a fencing token
// would go back. Recovery is documented in README ("The state file").
import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import * as z from 'zod'
import type { StoredState } from '../core/types.ts'

const FORMAT = 2

const uint = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const storedSchema = z.object({
  clusterId: z.string().max(64).nullable(),
  retired: z.array(z.string().max(64)).max(64),
  // by/sig: the config's writer and its signature (core/trust.ts R7), so that it can still be relayed after a restart.
  config: z.object({ version: uint, term: uint, voters: z.array(z.string()).max(4096), by: z.string().max(1024).optional(), sig: z.string().regex(/^[0-9a-f]{128}$/).optional() }).nullable(),
  maxTerm: uint,
  promisedTerm: uint,
  incarnation: uint,
  // Twin rule W5 (core/twin.ts): the incarnation is no bound on earlier runs' claims. Kept, or the next run would
  // take itself for its own twin.
  historyUnknown: z.literal(true).optional(),
  peers: z.array(z.object({ id: z.string(), peer: z.string(), addrs: z.array(z.string()) })).max(1024),
})
const fileSchema = z.object({ format: z.literal(FORMAT), checksum: z.string(), state: z.unknown() })

/** A state file that exists but cannot be trusted: the agent stops and says how to get out. */
export class StateFileError extends Error {
  override name = 'StateFileError'
}

function checksum(body: string): string {
  return createHash('sha256').update(body).digest('hex')
}

export class StateFile {
  readonly path: string

  constructor(dataDir: string) {
    this.path = join(dataDir, 'state.json')
  }

  /** The stored state, or undefined when there is no file (a new node). Throws StateFileError on a bad file. */
  read(): StoredState | undefined {
    let text: string
    try {
      text = readFileSync(this.path, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new StateFileError(`cannot read ${this.path}: ${(e as Error).message}`)
    }
    const bad = (why: string) =>
      new StateFileError(
        `state file ${this.path} is ${why}; the node will not guess the terms it promised. ` +
          `To recover, move it aside (mv ${this.path} ${this.path}.bad) and start again: the node rejoins as one that ` +
          `forgot its terms and grants nothing until it has learned them from the other voters`,
      )
    let raw: unknown
    try {
      raw = JSON.parse(text)
    } catch {
      throw bad('not valid JSON (truncated or corrupt)')
    }
    // Format 1 (before cluster ids) held only the highest term seen: keep it as the floor of every term.
    const legacy = z.object({ maxTerm: uint }).strict().safeParse(raw)
    if (legacy.success) {
      const t = legacy.data.maxTerm
      // It held no incarnation: no bound on the claims of the runs before (twin rule W5).
      return { clusterId: null, retired: [], config: null, maxTerm: t, promisedTerm: t, incarnation: 0, historyUnknown: true, peers: [] }
    }
    const file = fileSchema.safeParse(raw)
    if (!file.success) throw bad(`not a conclave state file of format ${FORMAT}`)
    const body = JSON.stringify(file.data.state)
    if (checksum(body) !== file.data.checksum) throw bad('damaged (its checksum does not match)')
    const state = storedSchema.safeParse(file.data.state)
    if (!state.success) throw bad(`invalid (${state.error.issues[0]?.path.join('.')}: ${state.error.issues[0]?.message})`)
    const { config, ...rest } = state.data
    if (!config) return { ...rest, config: null }
    const { sig, ...cfg } = config
    return { ...rest, config: sig ? { ...cfg, sig: new Uint8Array(Buffer.from(sig, 'hex')) } : cfg }
  }

  /** Write `state` durably: temp file, fsync, rename, fsync the directory. Synchronous on purpose (see above). */
  write(stored: StoredState): void {
    // The config's signature is kept as hex (JSON has no bytes).
    const sig = stored.config?.sig
    const state = sig ? { ...stored, config: { ...stored.config!, sig: Buffer.from(sig).toString('hex') } } : stored
    const body = JSON.stringify(state)
    const text = JSON.stringify({ format: FORMAT, checksum: checksum(body), state }) + '\n'
    const tmp = `${this.path}.tmp-${process.pid}`
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, text)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, this.path)
    const dir = openSync(dirname(this.path), 'r')
    try {
      fsyncSync(dir)
    } finally {
      closeSync(dir)
    }
  }
}
