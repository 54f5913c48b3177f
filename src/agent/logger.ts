// Structured logs: pino on stderr (stdout stays free for command output), in one of two shapes with the same records:
//   pretty  `07:41:02.118 WARN  member node-3 suspect -> dead`       (default when stderr is a terminal)
//   json    `{"level":40,"time":"…","node":"node-1","event":"member-state",…,"msg":"member node-3 suspect -> dead"}`
// Every record is also published on a per-logger bus, which GET /v1/logs streams to `conclave monitor`.
import { EventEmitter } from 'node:events'
import { pino, type DestinationStream, type Logger } from 'pino'
import type { CoreEvent, Member } from '../core/types.ts'

export type LogFormat = 'auto' | 'pretty' | 'json'

/** A log record as pino writes it (JSON), with our base fields. */
export interface LogRecord {
  level: number
  time: string
  node?: string
  msg?: string
  event?: string
  [key: string]: unknown
}

export const levelValues: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }
const levelNames: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }

/** Records of one logger, for live subscribers (the SSE log stream). */
export class LogBus extends EventEmitter<{ record: [LogRecord] }> {
  /** Levels subscribers asked for; the root logger runs at the lowest of these and the configured level. */
  private readonly wanted = new Map<object, number>()
  constructor(
    private readonly logger: () => Logger,
    /** The configured level: what reaches stderr. */
    readonly configuredLevel: number,
  ) {
    super()
    // One listener per `conclave monitor`; a busy operator may open several, none of them is a leak.
    this.setMaxListeners(0)
  }

  /** Subscribe at `level` (a number); returns the unsubscribe function. */
  subscribe(level: number, fn: (r: LogRecord) => void): () => void {
    const key = {}
    const listener = (r: LogRecord) => {
      if (r.level >= level) fn(r)
    }
    this.wanted.set(key, level)
    this.on('record', listener)
    this.adjust()
    return () => {
      this.wanted.delete(key)
      this.off('record', listener)
      this.adjust()
    }
  }

  /** Lower the root logger's level while a subscriber wants more detail than stderr gets (child loggers keep theirs). */
  private adjust(): void {
    const min = Math.min(this.configuredLevel, ...this.wanted.values())
    const name = Object.keys(levelValues).find((k) => levelValues[k] === min) ?? 'info'
    const log = this.logger()
    if (log.level !== name) log.level = name
  }
}

const buses = new WeakMap<Logger, LogBus>()

/** The bus of a logger made by createLogger (undefined for loggers made elsewhere, e.g. in tests). */
export function logBusOf(logger: Logger): LogBus | undefined {
  return buses.get(logger)
}

export function resolveFormat(format: LogFormat, isTTY = Boolean(process.stderr.isTTY)): 'pretty' | 'json' {
  return format === 'auto' ? (isTTY ? 'pretty' : 'json') : format
}

/** `out` replaces stderr (tests); `isTTY` says whether it is a terminal (auto format, colors). */
export function createLogger(level: string, id: string, format: LogFormat = 'auto', out?: { write(s: string): void; isTTY?: boolean }): Logger {
  const isTTY = out ? Boolean(out.isTTY) : Boolean(process.stderr.isTTY)
  const shape = resolveFormat(format, isTTY)
  const color = shape === 'pretty' && isTTY && !process.env.NO_COLOR
  const stderr = out ?? pino.destination({ fd: 2, sync: true })
  const configured = levelValues[level] ?? levelValues.info
  let bus: LogBus | undefined
  const destination: DestinationStream = {
    write(line: string) {
      // Parse only when someone needs the record: pretty output or a live subscriber.
      const needRecord = shape === 'pretty' || (bus !== undefined && bus.listenerCount('record') > 0)
      let record: LogRecord | undefined
      if (needRecord) {
        try {
          record = JSON.parse(line) as LogRecord
        } catch {
          record = undefined
        }
      }
      // The root logger may run below the configured level for a subscriber; stderr keeps the configured level.
      const level = record?.level ?? levelOfLine(line)
      if (level >= configured) stderr.write(shape === 'pretty' && record ? formatRecord(record, { color }) + '\n' : line)
      if (record && bus) bus.emit('record', record)
    },
  }
  const logger = pino({ level, base: { node: id }, timestamp: pino.stdTimeFunctions.isoTime }, destination)
  bus = new LogBus(() => logger, configured)
  buses.set(logger, bus)
  return logger
}

function levelOfLine(line: string): number {
  const m = /"level":(\d+)/.exec(line)
  return m ? Number(m[1]) : levelValues.info
}

const ansi = { reset: '\x1b[0m', dim: '\x1b[2m', red: '\x1b[31m', yellow: '\x1b[33m', green: '\x1b[32m', magenta: '\x1b[35m', cyan: '\x1b[36m' }
const levelColor: Record<number, string> = { 10: ansi.dim, 20: ansi.cyan, 30: ansi.green, 40: ansi.yellow, 50: ansi.red, 60: ansi.magenta }
/** Fields every record has. */
const base = new Set(['level', 'time', 'msg', 'node', 'pid', 'hostname'])

/**
 * One readable line: local time, level, the message, then the remaining fields as key=value. Event records
 * (those with an `event` field) already say everything in the message; only non-obvious extras follow it.
 */
export function formatRecord(r: LogRecord, opts: { color?: boolean; showNode?: boolean } = {}): string {
  const t = new Date(r.time)
  const time = Number.isNaN(t.getTime()) ? String(r.time) : `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${String(t.getMilliseconds()).padStart(3, '0')}`
  const lvl = (levelNames[r.level] ?? String(r.level)).padEnd(5)
  const extras: string[] = []
  for (const [k, v] of Object.entries(r)) {
    if (base.has(k) || v === undefined) continue
    // A core event's message says it in words; its structured fields are for the JSON form.
    if (r.event !== undefined && k !== 'err') continue
    extras.push(`${k}=${fieldText(k, v)}`)
  }
  const c = (code: string, s: string) => (opts.color ? `${code}${s}${ansi.reset}` : s)
  const node = opts.showNode && r.node ? `${r.node} ` : ''
  return `${c(ansi.dim, time)} ${c(levelColor[r.level] ?? '', lvl)} ${node}${r.msg ?? ''}${extras.length ? ' ' + c(ansi.dim, extras.join(' ')) : ''}`
}

const pad = (n: number) => String(n).padStart(2, '0')

function fieldText(key: string, v: unknown): string {
  if (key === 'err' && v && typeof v === 'object' && 'message' in v) return JSON.stringify((v as { message: unknown }).message)
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v)
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(',')
  return JSON.stringify(v)
}

function readmissionHeld(e: Extract<CoreEvent, { type: 'readmission-held' }>): string {
  if (e.until === 'answered') return `member ${e.id} says it is alive, but this agent's probes of it go unanswered: taken back once it answers ${e.answers} probes sent back to back`
  return `member ${e.id} removed twice within a minute: taken back once it has answered every probe for ${Math.round(e.heldMs / 1000)} s`
}

const brief = (m: Member) => ({ member: m.id, state: m.state, incarnation: m.incarnation, peer: m.peer })

/** One log line per core event an operator would grep for; chatty events (probes) only at debug. */
export function logEvent(log: Logger, e: CoreEvent): void {
  switch (e.type) {
    case 'member-joined':
      log.info({ event: e.type, ...brief(e.member), addrs: e.member.addrs }, `member ${e.member.id} joined`)
      break
    case 'member-state': {
      const level = e.member.state === 'dead' ? 'warn' : 'info'
      log[level]({ event: e.type, ...brief(e.member), previous: e.previous }, `member ${e.member.id} ${e.previous} -> ${e.member.state}`)
      break
    }
    case 'member-removed':
      log.info({ event: e.type, member: e.id }, `member ${e.id} removed`)
      break
    case 'master-changed':
      log.info({ event: e.type, master: e.master, previous: e.previous }, e.master ? `master is ${e.master.id} (term ${e.master.term})` : 'no master')
      break
    case 'became-master':
      log.info({ event: e.type, term: e.term }, `became master (term ${e.term})`)
      break
    case 'stepped-down':
      log.warn({ event: e.type, term: e.term, reason: e.reason }, `stepped down as master (term ${e.term}): ${e.reason}`)
      break
    case 'suspicion':
      log.info({ event: e.type, member: e.id, by: e.by }, `member ${e.id} suspected by ${e.by}`)
      break
    case 'refuted':
      log.warn({ event: e.type, incarnation: e.incarnation }, `refuted a suspicion of this node (incarnation ${e.incarnation})`)
      break
    case 'flapping':
      log.warn({ event: e.type, heldMs: e.heldMs }, `declared dead twice within a minute: staying out until well for ${Math.round(e.heldMs / 1000)} s`)
      break
    case 'readmission-held':
      log.warn({ event: e.type, member: e.id, until: e.until, ...(e.until === 'quiet' ? { heldMs: e.heldMs } : { answers: e.answers }) }, readmissionHeld(e))
      break
    case 'probe':
      log.debug({ event: e.type, member: e.target, ok: e.ok, indirect: e.indirect }, `probe ${e.target} ${e.ok ? 'ok' : 'failed'}`)
      break
    case 'config-changed':
      log.info({ event: e.type, config: e.config }, `voter config v${e.config.version}: ${e.config.voters.join(', ')}`)
      break
    case 'id-conflict':
      if (e.twin) log.fatal({ event: e.type, id: e.id, peer: e.peer, fatal: e.fatal, twin: e.twin }, `another process holds this node's key (${e.peer}): it claimed incarnation ${e.twin.incarnation} from ${e.twin.addrs.join(' ')}`)
      else log[e.fatal ? 'fatal' : 'warn']({ event: e.type, id: e.id, peer: e.peer, fatal: e.fatal }, `node id "${e.id}" is also claimed by ${e.peer}`)
      break
    case 'left':
      log.info({ event: e.type }, 'left the cluster')
      break
    case 'cluster-born':
      log.info({ event: e.type, cluster: e.clusterId, voters: e.voters }, `bootstrapped cluster ${e.clusterId} with voters ${e.voters.join(', ')}`)
      break
    case 'cluster-joined':
      if (e.reason === 'merged') log.warn({ event: e.type, cluster: e.clusterId, from: e.from }, `cluster ${e.from} merged into cluster ${e.clusterId}`)
      else if (e.reason === 'recovered') log.warn({ event: e.type, cluster: e.clusterId }, `cluster ${e.clusterId} recovered with a new voter config`)
      else log.info({ event: e.type, cluster: e.clusterId }, `joined cluster ${e.clusterId}`)
      break
  }
}
