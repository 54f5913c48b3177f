// The one wire encoding of protocol messages: msgpack, validated on decode by a zod schema, at most 64 KiB.
// Decoding never throws: a bad message comes back as a reason the shell counts and logs. It lives in the core
// (pure computation) so that the simulator sends every message through the same encoder as the agent.
// The cost of a bad message is bounded before any allocation: a structural scan of the bytes (depth, counts,
// string lengths, container density) runs first, and arrays are validated element by element, stopping at the
// first bad one (zod alone collects every issue of every element: 58 ms for 4,000 empty maps).
import { decode, encode } from '@msgpack/msgpack'
import * as z from 'zod'
import type { Message, MessageType } from './types.ts'
import { scanMsgpack, type ScanLimits } from './msgpack-scan.ts'

export const MAX_MESSAGE_BYTES = 64 * 1024

/**
 * Structure of membership messages (docs/limits.md): depth 4 is a sync's root > members > member > addrs;
 * 4096 elements is the schema's largest array; a real message spends well over 16 bytes per map or array
 * (a member update is about 70 bytes for two containers).
 */
export const MESSAGE_SCAN_LIMITS: ScanLimits = {
  maxDepth: 4,
  maxItems: 4096,
  maxStringBytes: 1024,
  maxContainers: 16,
  minBytesPerContainer: 16,
  rootMap: true,
  // The positional messages (below): at most this many items, type code included.
  rootArrayItems: 12,
  // Signatures of self-claims (trust.ts R3) are 64-byte msgpack bins; the schema checks their exact length.
  allowBinary: true,
}

/** An array validated element by element that stops at the first bad element (one issue, with its path). */
export function failFastArray<T extends z.ZodType>(item: T, max: number) {
  return z
    .array(z.unknown())
    .max(max)
    .transform((arr, ctx) => {
      const out: z.output<T>[] = new Array(arr.length)
      for (let i = 0; i < arr.length; i++) {
        const r = item.safeParse(arr[i])
        if (!r.success) {
          const first = r.error.issues[0]
          ctx.addIssue({ code: 'custom', path: [i, ...first.path], message: first.message })
          return z.NEVER
        }
        out[i] = r.data
      }
      return out
    })
}

const str = z.string().max(1024)
const uint = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const addrs = failFastArray(str, 64)

const memberUpdate = z.object({
  id: str,
  peer: str,
  addrs,
  incarnation: uint,
  state: z.enum(['alive', 'suspect', 'dead', 'left']),
  by: str.optional(),
  tags: z.record(z.string().max(64), z.string().max(256)).optional(),
  /** The boot nonce of the process that made the claim (twin.ts W1). */
  boot: z.string().max(64).optional(),
  /** The subject's Ed25519 signature of its own claim (trust.ts R3): 64 bytes. */
  sig: z.instanceof(Uint8Array).refine((b) => b.byteLength === 64, { error: 'a signature is 64 bytes' }).optional(),
})
const updates = failFastArray(memberUpdate, 4096)

const sig = z.custom<Uint8Array>((b) => b instanceof Uint8Array && b.byteLength === 64, { error: 'a signature is 64 bytes' })
/** by/sig: the writer of a config and its signature (trust.ts R7). */
const voterConfig = z.object({ version: uint, term: uint, voters: failFastArray(str, 4096), by: str.optional(), sig: sig.optional() })
/** sig: the named master's signature of its claim (trust.ts R7). */
const masterClaim = z.object({ id: str, term: uint, ms: uint, sig: sig.optional() })
const cluster = z.string().max(64)

export const messageSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('ping'), seq: uint, from: str, gossip: updates, cluster: cluster.optional(), master: masterClaim.optional(), revive: z.literal(true).optional() }),
  z.object({ t: z.literal('ack'), seq: uint, from: str, gossip: updates, cluster: cluster.optional(), master: masterClaim.optional() }),
  z.object({ t: z.literal('nack'), seq: uint, from: str }),
  z.object({ t: z.literal('ping-req'), seq: uint, from: str, target: str, targetPeer: str }),
  z.object({
    t: z.literal('sync'),
    from: str,
    reply: z.boolean(),
    more: z.boolean().optional(),
    members: updates,
    cluster: cluster.nullable(),
    retired: z.array(cluster).max(64).optional(),
    config: voterConfig.nullable(),
    maxTerm: uint,
  }),
  z.object({ t: z.literal('digest'), from: str, digest: z.string().max(32) }),
  z.object({ t: z.literal('updates'), from: str, updates }),
  z.object({
    t: z.literal('lease-req'),
    from: str,
    seq: uint,
    cluster,
    term: uint,
    master: z.boolean(),
    configVersion: uint,
    config: voterConfig.optional(),
    sig: sig.optional(),
  }),
  z.object({
    t: z.literal('lease-ack'),
    from: str,
    seq: uint,
    cluster: cluster.nullable(),
    term: uint,
    granted: z.boolean(),
    durationMs: uint,
    maxTerm: uint,
    configVersion: uint,
    reason: z.enum(['not-lowest', 'bound', 'stale-term', 'not-voter', 'stale-config', 'other-cluster']).optional(),
    holder: str.optional(),
    config: voterConfig.optional(),
  }),
  z.object({ t: z.literal('lease-release'), from: str, term: uint }),
  z.object({ t: z.literal('leave'), from: str, incarnation: uint, sig: z.instanceof(Uint8Array).refine((b) => b.byteLength === 64, { error: 'a signature is 64 bytes' }).optional() }),
  z.object({ t: z.literal('remove'), from: str, id: str }),
])

// Compile-time check that the schema and the core's Message type describe the same thing.
type Decoded = z.infer<typeof messageSchema>
const _toMessage = (d: Decoded): Message => d
const _fromMessage = (m: Message): Decoded => m
void _toMessage
void _fromMessage

export const messageTypes: readonly MessageType[] = messageSchema.options.map((o) => o.shape.t.value)

// ---------------------------------------------------------------- wire names
//
// On the wire every field has a one-letter name and the message type is a small integer. A probe at 10 idle agents
// was 92 bytes, 44 of them field names; one agent sends about five messages a second (probes, their acks, lease
// requests and grants), and each costs its payload again in framing and headers (docs/bench-runtime.md).
// The codes are fixed, never derived from the schema's order: a field added later gets a new letter, and the codes
// of the others stay. Decoding also takes the long names, so a message from an agent before this encoding loses
// nothing. Tags are the user's own keys and are never renamed.

/** Message types by wire code (their index). Append only. */
const TYPE_CODES: readonly MessageType[] = ['ping', 'ack', 'nack', 'ping-req', 'sync', 'digest', 'updates', 'lease-req', 'lease-ack', 'lease-release', 'leave', 'remove']

/** Field name -> wire name. One letter each, and no wire name is another field's long name (checked below). */
const WIRE_NAMES: Readonly<Record<string, string>> = {
  t: 't', seq: 's', from: 'f', gossip: 'g', cluster: 'c', master: 'm', revive: 'r', target: 'x', targetPeer: 'X',
  reply: 'y', more: 'M', members: 'u', retired: 'R', config: 'C', maxTerm: 'T', digest: 'd', updates: 'U',
  term: 'e', configVersion: 'v', sig: 'S', granted: 'G', durationMs: 'D', reason: 'w', holder: 'h',
  incarnation: 'n', id: 'i', peer: 'p', addrs: 'a', state: 'z', by: 'b', tags: 'k', boot: 'B', ms: 'q',
  version: 'V', voters: 'o',
}
const LONG_NAMES: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(WIRE_NAMES).map(([long, wire]) => [wire, long]))
{
  const wires = Object.values(WIRE_NAMES)
  if (new Set(wires).size !== wires.length) throw new Error('codec: two fields share a wire name')
  for (const [long, wire] of Object.entries(WIRE_NAMES)) {
    if (wire !== long && wire in WIRE_NAMES) throw new Error(`codec: wire name ${wire} of ${long} is a field's long name`)
  }
}
for (const t of messageTypes) if (!TYPE_CODES.includes(t)) throw new Error(`codec: message type ${t} has no wire code`)
/** Fields holding member updates (arrays of objects), and fields holding one object (a claim or a config). */
const UPDATE_LISTS = new Set(['gossip', 'members', 'updates'])
const OBJECTS = new Set(['master', 'config'])

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)

/** Two fields of one message with one meaning (a wire name and its long name): refused, not merged. */
class DuplicateField extends Error {}

/** `o` with its keys renamed by `names` (keys without a name pass through); `inner` maps each value by its long name. */
function rename(o: Record<string, unknown>, names: Readonly<Record<string, string>>, toLong: boolean, inner?: (long: string, v: unknown) => unknown): Record<string, unknown> {
  // No prototype, and own names only: a key such as __proto__ or toString is a plain key here, for the schema to drop.
  const out: Record<string, unknown> = Object.create(null)
  for (const k of Object.keys(o)) {
    const v = o[k]
    if (v === undefined) continue
    const name = Object.hasOwn(names, k) ? names[k]! : k
    if (Object.hasOwn(out, name)) throw new DuplicateField(`field ${toLong ? name : k} twice`)
    out[name] = inner ? inner(toLong ? name : k, v) : v
  }
  return out
}

// Two more savings on the messages an idle agent sends most (probes, their acks, lease requests and grants):
//  - A cluster id (lineage.ts newClusterId: 20 hex digits) goes as its 10 bytes, a msgpack bin of 12 bytes instead
//    of a 21-byte string: 9 bytes off each of those messages. Any other string (a test's 'k1') goes as it is.
//  - An empty gossip list of a probe or an ack is left out (3 bytes); a probe without one carries no gossip.
// Decoding takes both forms of each.

const CLUSTER_HEX = /^[0-9a-f]{20}$/
/** 20 hex digits as bytes. */
const CLUSTER_BYTES = 10
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

function clusterToWire(v: unknown): unknown {
  if (typeof v !== 'string' || !CLUSTER_HEX.test(v)) return v
  const b = new Uint8Array(CLUSTER_BYTES)
  for (let i = 0; i < CLUSTER_BYTES; i++) b[i] = Number.parseInt(v.slice(2 * i, 2 * i + 2), 16)
  return b
}

/** A 10-byte bin back to its 20 hex digits; anything else is left for the schema to judge. */
function clusterFromWire(v: unknown): unknown {
  if (!(v instanceof Uint8Array) || v.byteLength !== CLUSTER_BYTES) return v
  let s = ''
  for (const x of v) s += HEX[x]
  return s
}

const PROBES = new Set<unknown>(['ping', 'ack'])

// ---------------------------------------------------------------- positional messages
//
// The four messages an idle agent sends all the time (six a second at 10 agents: two probes, their acks, a lease
// request and its grant) go as a msgpack array, [type code, field 1, field 2, ...] in the order below, instead of a
// map: a one-letter name still costs two bytes per field, 16 of a 52-byte probe. An absent optional field is nil
// (and trailing ones are left off); a probe's master claim is an array too, [id, term, ms, sig]. The orders are
// fixed: a field added later is appended, and a decoder ignores positions past the ones it knows. Decoding still
// takes every message as a map.

const POSITIONAL: Partial<Record<MessageType, readonly string[]>> = {
  ping: ['seq', 'from', 'cluster', 'master', 'gossip', 'revive'],
  ack: ['seq', 'from', 'cluster', 'master', 'gossip'],
  'lease-req': ['from', 'seq', 'cluster', 'term', 'master', 'configVersion', 'config', 'sig'],
  'lease-ack': ['from', 'seq', 'cluster', 'term', 'granted', 'durationMs', 'maxTerm', 'configVersion', 'reason', 'holder', 'config'],
}
/** Required fields whose value may be null (nil there is the value, not an absent field). */
const NULLABLE: Partial<Record<MessageType, ReadonlySet<string>>> = { 'lease-ack': new Set(['cluster']) }
const CLAIM_FIELDS = ['id', 'term', 'ms', 'sig'] as const
/** Items of the longest positional message: the structural scan's bound on a root array. */
export const MAX_POSITIONAL_ITEMS = 1 + Math.max(...Object.values(POSITIONAL).map((f) => f!.length))
if (MAX_POSITIONAL_ITEMS > (MESSAGE_SCAN_LIMITS.rootArrayItems ?? 0)) throw new Error('codec: a positional message is longer than the scan allows')

/** A field's value as it goes on the wire, in a map or at its position. */
function fieldToWire(t: MessageType, long: string, v: unknown): unknown {
  if (long === 'cluster') return clusterToWire(v)
  if (long === 'retired' && Array.isArray(v)) return v.map(clusterToWire)
  if (long === 'gossip' && PROBES.has(t) && Array.isArray(v) && v.length === 0) return undefined
  if (UPDATE_LISTS.has(long) && Array.isArray(v)) return v.map((u) => (isPlain(u) ? rename(u, WIRE_NAMES, false) : u))
  if (long === 'master' && PROBES.has(t) && isPlain(v)) return trimmed(CLAIM_FIELDS.map((k) => v[k]))
  if (OBJECTS.has(long) && isPlain(v)) return rename(v, WIRE_NAMES, false)
  return v
}

/** undefined as nil, and trailing nils left off. */
function trimmed(values: unknown[]): unknown[] {
  let n = values.length
  while (n > 0 && values[n - 1] === undefined) n--
  return values.slice(0, n).map((v) => (v === undefined ? null : v))
}

/** The message as it goes on the wire. */
function toWire(msg: Message): unknown {
  const m = msg as unknown as Record<string, unknown>
  const layout = POSITIONAL[msg.t]
  if (layout) return [TYPE_CODES.indexOf(msg.t), ...trimmed(layout.map((f) => fieldToWire(msg.t, f, m[f])))]
  const out = rename(m, WIRE_NAMES, false, (long, v) => fieldToWire(msg.t, long, v))
  out.t = TYPE_CODES.indexOf(msg.t)
  return out
}

/** A field's value from the wire (the inverse of fieldToWire; what it does not know passes through to the schema). */
function fieldFromWire(t: unknown, long: string, v: unknown): unknown {
  if (long === 'cluster') return clusterFromWire(v)
  if (long === 'retired' && Array.isArray(v)) return v.map(clusterFromWire)
  if (UPDATE_LISTS.has(long) && Array.isArray(v)) return v.map((u) => (isPlain(u) ? rename(u, LONG_NAMES, true) : u))
  if (long === 'master' && PROBES.has(t) && Array.isArray(v)) {
    const claim: Record<string, unknown> = Object.create(null)
    CLAIM_FIELDS.forEach((k, j) => {
      if (v[j] !== undefined && v[j] !== null) claim[k] = v[j]
    })
    return claim
  }
  if (OBJECTS.has(long) && isPlain(v)) return rename(v, LONG_NAMES, true)
  return v
}

/** A positional message as a map with long names (nil at an optional field: absent). */
function fromPositional(raw: unknown[]): unknown {
  const t = typeof raw[0] === 'number' ? TYPE_CODES[raw[0]] : undefined
  const layout = t ? POSITIONAL[t] : undefined
  if (!t || !layout) return raw
  const out: Record<string, unknown> = Object.create(null)
  out.t = t
  const nullable = NULLABLE[t]
  layout.forEach((f, i) => {
    const v = raw[i + 1]
    if (v === undefined || (v === null && !nullable?.has(f))) return
    out[f] = fieldFromWire(t, f, v)
  })
  return out
}

/** A decoded message with long names again, for the schema (anything else passes through, for the schema to refuse). */
function fromWire(raw: unknown): unknown {
  let out: unknown = raw
  if (Array.isArray(raw)) out = fromPositional(raw)
  else if (isPlain(raw)) {
    // The type first (either name, either form), so that each field is read knowing its message type.
    const code = Object.hasOwn(raw, 't') ? raw.t : undefined
    const t = typeof code === 'number' ? (TYPE_CODES[code] ?? code) : code
    out = rename(raw, LONG_NAMES, true, (long, v) => fieldFromWire(t, long, v))
  }
  if (!isPlain(out)) return out
  if (typeof out.t === 'number') out.t = TYPE_CODES[out.t] ?? out.t
  if (PROBES.has(out.t) && !('gossip' in out)) out.gossip = []
  return out
}

/**
 * too-big: over MAX_MESSAGE_BYTES; bad-length: a length prefix that is not a valid varint within bounds;
 * truncated: the stream ended inside a frame; structure: refused by the structural scan; undecodable: not
 * msgpack; schema: not a protocol message.
 */
export type BadReason = 'too-big' | 'bad-length' | 'truncated' | 'structure' | 'undecodable' | 'schema'

export type DecodeResult = { ok: true; msg: Message } | { ok: false; reason: BadReason; detail: string }

export function encodeMessage(msg: Message): Uint8Array {
  const bytes = encode(toWire(msg))
  if (bytes.byteLength > MAX_MESSAGE_BYTES) {
    throw new RangeError(`message ${msg.t} is ${bytes.byteLength} bytes, over the ${MAX_MESSAGE_BYTES} byte limit`)
  }
  return bytes
}

export function decodeMessage(bytes: Uint8Array): DecodeResult {
  if (bytes.byteLength > MAX_MESSAGE_BYTES) {
    return { ok: false, reason: 'too-big', detail: `${bytes.byteLength} bytes` }
  }
  const shape = scanMsgpack(bytes, MESSAGE_SCAN_LIMITS)
  if (shape !== null) return { ok: false, reason: 'structure', detail: shape }
  let raw: unknown
  try {
    raw = decode(bytes)
  } catch (e) {
    return { ok: false, reason: 'undecodable', detail: (e as Error).message }
  }
  let named: unknown
  try {
    named = fromWire(raw)
  } catch (e) {
    if (e instanceof DuplicateField) return { ok: false, reason: 'schema', detail: e.message }
    throw e
  }
  const parsed = messageSchema.safeParse(named)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    return { ok: false, reason: 'schema', detail: `${issue.path.join('.') || '(root)'}: ${issue.message}` }
  }
  return { ok: true, msg: parsed.data as Message }
}
