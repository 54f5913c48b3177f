// Wire format of the task protocol (/conclave/task/1.0.0) and of load gossip: msgpack, validated on decode.
import { decode, encode } from '@msgpack/msgpack'
import { z } from 'zod'
import type { TaskOutcome } from './types.ts'

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
  return forwardSchema.parse(decode(b))
}

export function encodeReply(r: ForwardReply): Uint8Array {
  return encode(r, { ignoreUndefined: true })
}

export function decodeReply(b: Uint8Array): ForwardReply {
  return replySchema.parse(decode(b)) as ForwardReply
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
  return loadSchema.parse(decode(b))
}
