// Agent configuration: one zod schema for the JSON config file and the command-line flags.
// Errors name the field, e.g. `config error: probeIntervalMs: expected a positive integer`.
import { hostname } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import * as z from 'zod'
import { protocolDefaults } from '../core/defaults.ts'
import { UNIX_API_PREFIX, unixApiProblem } from '../security/api-auth.ts'

const posInt = () =>
  z.number({ error: 'expected a positive integer' }).int({ error: 'expected a positive integer' }).positive({ error: 'expected a positive integer' })
const nonNegInt = () =>
  z.number({ error: 'expected an integer >= 0' }).int({ error: 'expected an integer >= 0' }).min(0, { error: 'expected an integer >= 0' })
const fraction = () =>
  z.number({ error: 'expected a number between 0 and 1' }).min(0, { error: 'expected a number between 0 and 1' }).max(0.9, { error: 'expected a number between 0 and 0.9' })

function protoNames(s: string): string[] | null {
  try {
    return multiaddr(s).protoNames()
  } catch {
    return null
  }
}
const isMultiaddr = (s: string) => protoNames(s) !== null

const multiaddrString = (what: string) =>
  z.string({ error: `expected a ${what} multiaddr string` }).refine(isMultiaddr, { error: (iss) => `malformed multiaddr "${String(iss.input)}"`, abort: true })

/** A TCP listen address: /ip4|ip6/<addr>/tcp/<port>. */
const listenAddr = multiaddrString('listen').refine(
  (s) => {
    const protos = protoNames(s) ?? []
    return (protos[0] === 'ip4' || protos[0] === 'ip6') && protos[1] === 'tcp' && protos.length === 2
  },
  { error: (iss) => `"${String(iss.input)}" is not a listen address of the form /ip4/<addr>/tcp/<port>` },
)

const bootstrapAddr = multiaddrString('bootstrap').refine(
  (s) => {
    const protos = protoNames(s) ?? []
    return ['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(protos[0]) && protos[1] === 'tcp'
  },
  { error: (iss) => `"${String(iss.input)}" is not a bootstrap address of the form /ip4/<addr>/tcp/<port>[/p2p/<peer-id>]` },
)

/** host:port for the HTTP API; the host may be an IPv4 address, a bracketed IPv6 address or a name. */
const tcpHostPort = z
  .string({ error: 'expected host:port' })
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { error: (iss) => `expected host:port, got "${String(iss.input)}"` })
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, { error: 'port must be at most 65535' })
/** host:port, or unix:<absolute path> for the API on a unix socket (security/api-auth.ts). */
const hostPort = z.string({ error: 'expected host:port' }).superRefine((s, ctx) => {
  if (s.startsWith(UNIX_API_PREFIX)) {
    const problem = unixApiProblem(s)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
    return
  }
  const r = tcpHostPort.safeParse(s)
  if (!r.success) ctx.addIssue({ code: 'custom', message: r.error.issues[0]!.message })
})

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
/** pretty: one readable line per record; json: pino's JSON lines; auto: pretty when stderr is a terminal. */
export const logFormats = ['auto', 'pretty', 'json'] as const

/** Limits on tags: they ride every membership update, so they stay small (32 keys of at most 64 + 256 characters). */
export const tagLimits = { maxTags: 32, maxKeyLength: 64, maxValueLength: 256 } as const
/** Why a tag key is not acceptable, or null. */
function tagKeyProblem(k: string): string | null {
  if (k.length === 0) return 'tag keys must not be empty'
  if (k.length > tagLimits.maxKeyLength) return `tag keys must be at most ${tagLimits.maxKeyLength} characters`
  if (!/^[A-Za-z0-9._-]+$/.test(k)) return 'tag keys may contain only letters, digits and . _ -'
  return null
}
const tagValue = z
  .string({ error: 'expected a string value' })
  .max(tagLimits.maxValueLength, { error: `tag values must be at most ${tagLimits.maxValueLength} characters` })
  .regex(/^[^\s=,]*$/, { error: 'tag values may not contain whitespace, "=" or ","' })
// Keys are checked here rather than by a key schema, so the message names the key (`--tag[r le]: …`).
const tags = z
  .record(z.string(), tagValue, { error: (iss) => (iss.code === 'invalid_type' ? 'expected an object of string tags, e.g. {"role": "web"}' : undefined) })
  .superRefine((t, ctx) => {
    for (const k of Object.keys(t)) {
      const problem = tagKeyProblem(k)
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [k] })
    }
  })
  .refine((t) => Object.keys(t).length <= tagLimits.maxTags, { error: `at most ${tagLimits.maxTags} tags` })

/** Protocol tunables: every key of protocolDefaults. */
export const protocolSchema = z.object({
  quorum: z.enum(['majority', 'none'], { error: 'expected "majority" or "none"' }),
  expect: posInt(),
  discoveryWindowMs: nonNegInt(),
  voters: posInt(),
  voterDeadAfterMs: posInt(),
  probeIntervalMs: posInt(),
  probeTimeoutMs: posInt(),
  indirectTimeoutMs: posInt(),
  indirectChecks: nonNegInt(),
  suspicionMinMs: posInt(),
  suspicionMaxMult: z.number({ error: 'expected a number >= 1' }).min(1, { error: 'expected a number >= 1' }),
  maxHealthScore: nonNegInt(),
  retransmitMult: posInt(),
  maxPiggyback: nonNegInt(),
  syncIntervalMs: posInt(),
  deadProbeIntervalMs: posInt(),
  reapAfterMs: posInt(),
  leaseDurationMs: posInt(),
  leaseRenewMs: posInt(),
  clockDrift: fraction(),
  stabilityWindowMs: nonNegInt(),
})

// Keep the schema and the core's defaults in step: a key missing on either side fails typechecking.
type ProtocolKeys = keyof typeof protocolDefaults
type SchemaKeys = keyof z.infer<typeof protocolSchema>
const _sameKeys: [ProtocolKeys] extends [SchemaKeys] ? ([SchemaKeys] extends [ProtocolKeys] ? true : never) : never = true
void _sameKeys

/** Node ids: printable, no whitespace, short enough for logs and tables. */
const nodeId = z
  .string({ error: 'expected a string' })
  .min(1, { error: 'must not be empty' })
  .max(128, { error: 'must be at most 128 characters' })
  .regex(/^[A-Za-z0-9._:@-]+$/, { error: 'may contain only letters, digits and . _ : @ -' })

const agentObject = z
  .object({
    id: nodeId,
    listen: listenAddr,
    api: hostPort,
    dataDir: z.string({ error: 'expected a path' }).min(1, { error: 'must not be empty' }),
    bootstrap: z.array(bootstrapAddr, { error: 'expected an array of multiaddr strings' }),
    mdns: z.boolean({ error: 'expected true or false' }),
    logLevel: z.enum(logLevels, { error: `expected one of ${logLevels.join(', ')}` }),
    logFormat: z.enum(logFormats, { error: `expected one of ${logFormats.join(', ')}` }),
    /** Operator labels (role=web, zone=a), gossiped with membership; `conclave submit --where` selects by them. */
    tags,
    /**
     * The cluster key file (`conclave keygen`): every connection becomes a private network keyed by it. Several
     * keys in the file: all are accepted, the first is used to dial (key rotation, docs/security.md).
     */
    clusterKeyFile: z.string({ error: 'expected a path' }).min(1, { error: 'must not be empty' }).optional(),
    /** File holding the HTTP API token; mutations then need `Authorization: Bearer <token>`. */
    apiTokenFile: z.string({ error: 'expected a path' }).min(1, { error: 'must not be empty' }).optional(),
    /** Allow mDNS discovery on a non-loopback address without a cluster key (anyone on the LAN can join). */
    insecure: z.boolean({ error: 'expected true or false' }),
    /** Validated by the task subsystem (src/tasks). */
    tasks: z.unknown().optional(),
    /** Event hooks, validated by the task subsystem (src/tasks). */
    on: z.unknown().optional(),
  })
  .extend(protocolSchema.shape)
  .strict()

// ---- cross-field checks of the protocol tunables (one block; reasons per default in docs/limits.md) ----------

type ProtocolValues = z.infer<typeof protocolSchema>

/** Largest clockDrift accepted: the lease holder then still counts half of each grant. */
export const MAX_CLOCK_DRIFT = 0.25

/**
 * Tunables that are each valid alone but do not work together. Every message names both fields and the values,
 * so `config error: leaseRenewMs: ...` says what to change. Runs only once every field parsed.
 */
export function checkProtocolConsistency(c: ProtocolValues, ctx: z.RefinementCtx): void {
  const bad = (field: keyof ProtocolValues, message: string) => ctx.addIssue({ code: 'custom', path: [field], message })
  if (c.clockDrift > MAX_CLOCK_DRIFT) {
    bad(
      'clockDrift',
      `${c.clockDrift} is too large: a lease holder counts leaseDurationMs × (1 − 2 × clockDrift) of each grant ` +
        `(${Math.max(0, Math.round(c.leaseDurationMs * (1 - 2 * c.clockDrift)))} ms of leaseDurationMs ${c.leaseDurationMs}); at most ${MAX_CLOCK_DRIFT}`,
    )
    return // the lease arithmetic below needs a sane drift
  }
  const share = Math.floor(c.leaseDurationMs * (1 - 2 * c.clockDrift))
  if (c.leaseRenewMs >= share) {
    bad(
      'leaseRenewMs',
      `${c.leaseRenewMs} must be below leaseDurationMs × (1 − 2 × clockDrift) = ${share} (leaseDurationMs ${c.leaseDurationMs}, clockDrift ${c.clockDrift}): ` +
        'the master must renew before its share of the lease runs out',
    )
  }
  if (c.probeTimeoutMs > c.probeIntervalMs) {
    bad('probeTimeoutMs', `${c.probeTimeoutMs} must be at most probeIntervalMs (${c.probeIntervalMs}): a probe must end before the next one starts`)
  }
  if (c.indirectTimeoutMs < c.probeTimeoutMs) {
    bad(
      'indirectTimeoutMs',
      `${c.indirectTimeoutMs} must be at least probeTimeoutMs (${c.probeTimeoutMs}): an indirect probe is a relay's own direct probe plus two hops`,
    )
  }
  if (c.suspicionMinMs < c.probeIntervalMs) {
    bad('suspicionMinMs', `${c.suspicionMinMs} must be at least probeIntervalMs (${c.probeIntervalMs}): a suspect needs a probe round to hear of it and refute`)
  }
  if (c.deadProbeIntervalMs < c.probeIntervalMs) {
    bad('deadProbeIntervalMs', `${c.deadProbeIntervalMs} must be at least probeIntervalMs (${c.probeIntervalMs}): dead members are probed less often than live ones`)
  }
  if (c.syncIntervalMs < c.probeIntervalMs) {
    bad('syncIntervalMs', `${c.syncIntervalMs} must be at least probeIntervalMs (${c.probeIntervalMs}): a full-state exchange repairs what gossip missed, it is not the gossip`)
  }
  const maxSuspicion = c.suspicionMinMs * c.suspicionMaxMult
  if (c.reapAfterMs < Math.max(maxSuspicion, c.deadProbeIntervalMs) * 2) {
    bad(
      'reapAfterMs',
      `${c.reapAfterMs} must be at least twice the longer of suspicionMinMs × suspicionMaxMult (${maxSuspicion}) and deadProbeIntervalMs (${c.deadProbeIntervalMs}): ` +
        'a dead member must be re-probed before it is forgotten, or a healed partition never merges',
    )
  }
}

export const agentSchema = agentObject.superRefine(checkProtocolConsistency)

// ---- end of the cross-field checks ------------------------------------------------------------------------------

export type AgentConfig = z.infer<typeof agentSchema>

/** What the config file may contain: every key optional, unknown keys rejected (cross-field checks run on the merge). */
export const fileSchema = agentObject.partial().strict()

export function defaultDataDir(id: string): string {
  return join('data', id)
}

export function baseDefaults(): Omit<AgentConfig, 'dataDir' | 'tasks' | 'on'> {
  return {
    id: hostname(),
    listen: '/ip4/0.0.0.0/tcp/7946',
    // CONCLAVE_API is also where the CLI looks for the agent, so one variable points both at the same address.
    api: process.env.CONCLAVE_API || '127.0.0.1:7947',
    bootstrap: [],
    mdns: true,
    logLevel: 'info',
    logFormat: 'auto',
    tags: {},
    insecure: false,
    ...protocolDefaults,
  }
}
