// Wire format of the task protocol (/conclave/task/1.0.0) and of load gossip: msgpack, validated on decode.
// The bytes are scanned for structure first (src/core/msgpack-scan.ts): a payload is JSON, so no binary, at most
// MAX_JSON_DEPTH deep (the HTTP API's bound too), and not a frame of nothing but empty containers.
import { decode, encode } from '@msgpack/msgpack'
import * as z from 'zod'
import { scanMsgpack, type ScanLimits } from '../core/msgpack-scan.ts'
import type { TaskOutcome } from './types.ts'

/** Nesting depth of a task payload or result (JSON); the same bound applies to HTTP bodies (src/api/limits.ts). */
export const MAX_JSON_DEPTH = 64

/** Requests and replies: root map + payload/outcome + result nesting. Strings up to the 4 MiB frame. */
export const TASK_SCAN_LIMITS: ScanLimits = {
  maxDepth: MAX_JSON_DEPTH + 3,
  maxItems: 1 << 20,
  maxStringBytes: 4 * 1024 * 1024,
  maxContainers: 1 << 16,
  minBytesPerContainer: 16,
  rootMap: true,
  allowBinary: false,
}
/** Load reports: root > types > one type's counters. */
const LOAD_SCAN_LIMITS: ScanLimits = { maxDepth: 3, maxItems: 1024, maxStringBytes: 1024, maxContainers: 16, minBytesPerContainer: 16, rootMap: true, allowBinary: false }

/** True when a JSON value nests deeper than `max` (iterative: a value nested a million deep is no stack risk). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [v, d] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    if (d > max) return true
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, d + 1])
  }
  return false
}

export class WireError extends Error {
  override name = 'WireError'
}

function scanned(b: Uint8Array, limits: ScanLimits, what: string): unknown {
  const problem = scanMsgpack(b, limits)
  if (problem !== null) throw new WireError(`${what}: ${problem}`)
  return decode(b)
}

export const TASK_PROTOCOL = '/conclave/task/1.0.0'
export const LOAD_TOPIC = 'conclave/load/1'

/** A task forwarded by a submitting agent. `remainingMs` instead of an absolute deadline: clocks of two hosts differ. */
const forwardSchema = z.object({
  id: z.string().min(1).max(128),
  type: z.string().min(1).max(128),
  payload: z.unknown(),
  attempt: z.number().int().positive(),
  remainingMs: z.number().nonnegative(),
  from: z.string(),
})
export type ForwardRequest = z.infer<typeof forwardSchema>

const outcomeSchema = z.object({ id: z.string(), type: z.string() }).passthrough()

const replySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('outcome'), outcome: outcomeSchema }),
  z.object({ kind: z.literal('redirect'), master: z.object({ id: z.string(), term: z.number() }).nullable(), from: z.string() }),
])
export type ForwardReply = { kind: 'outcome'; outcome: TaskOutcome } | { kind: 'redirect'; master: { id: string; term: number } | null; from: string }

export function encodeForward(r: ForwardRequest): Uint8Array {
  return encode(r, { ignoreUndefined: true })
}

export function decodeForward(b: Uint8Array): ForwardRequest {
  return forwardSchema.parse(scanned(b, TASK_SCAN_LIMITS, 'task request'))
}

export function encodeReply(r: ForwardReply): Uint8Array {
  return encode(r, { ignoreUndefined: true })
}

export function decodeReply(b: Uint8Array): ForwardReply {
  return replySchema.parse(scanned(b, TASK_SCAN_LIMITS, 'task reply')) as ForwardReply
}

const typeLoadSchema = z.object({ running: z.number(), queued: z.number(), concurrency: z.number(), maxQueued: z.number() })
const loadSchema = z.object({
  id: z.string(),
  seq: z.number(),
  running: z.number(),
  queued: z.number(),
  capacity: z.number(),
  types: z.record(z.string(), typeLoadSchema),
})
export type LoadReport = z.infer<typeof loadSchema>

export function encodeLoad(l: LoadReport): Uint8Array {
  return encode(l)
}

export function decodeLoad(b: Uint8Array): LoadReport {
  return loadSchema.parse(scanned(b, LOAD_SCAN_LIMITS, 'load report'))
}
