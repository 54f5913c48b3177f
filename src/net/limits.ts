// Per-peer inbound limits of the libp2p shell: what one peer (or all of them) may cost this agent before any
// expensive work. Membership traffic and task traffic have separate budgets, so a flood of task requests cannot
// use up what probes and leases need. Every refusal is counted in conclave_inbound_refused_total{limit} and
// logged once per (peer, limit). Defaults and their reasons: docs/limits.md.
import { Counter, type Registry } from 'prom-client'
import type { Logger } from 'pino'
import { Uint8ArrayList } from 'uint8arraylist'

export const inboundLimitDefaults = {
  /** Membership messages per second from one peer (direct stream and membership gossip), and the burst. */
  membershipMsgsPerSec: 200,
  membershipMsgsBurst: 400,
  /** Membership bytes per second from one peer, and the burst (a full sync is at most 64 KiB). */
  membershipBytesPerSec: 512 * 1024,
  membershipBytesBurst: 1024 * 1024,
  /** Bytes of task requests being read or handled from one peer at once, and from all peers. */
  taskBytesPerPeer: 16 * 1024 * 1024,
  taskBytesTotal: 64 * 1024 * 1024,
  /** Task request streams open at once from one peer, and from all peers. */
  taskStreamsPerPeer: 256,
  taskStreamsTotal: 1024,
  /** A task request must arrive whole within this long after its stream opened. */
  taskRequestReadMs: 10_000,
  /** Writing the response to a peer that does not read gives up after this long. */
  taskResponseWriteMs: 5_000,
}
export type InboundLimitOptions = typeof inboundLimitDefaults

export type RefusedLimit = 'membership-rate' | 'task-bytes-peer' | 'task-bytes-total' | 'task-streams-peer' | 'task-streams-total' | 'task-read-timeout' | 'task-write-timeout'

/** A token bucket: `rate` tokens per second up to `burst`; take() spends tokens or refuses. */
export class TokenBucket {
  private tokens: number
  private at: number

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst
    this.at = now
  }

  take(n: number, now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate)
    this.at = now
    if (this.tokens < n) return false
    this.tokens -= n
    return true
  }

  /** Tokens available at `now`. */
  level(now: number): number {
    return Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate)
  }

  /** Full again and idle: forgetting it changes nothing. */
  idle(now: number): boolean {
    return this.tokens + ((now - this.at) / 1000) * this.rate >= this.burst
  }
}

/** Message and byte buckets per peer; buckets of idle peers are dropped, so the map stays as small as the set of active peers. */
export class PeerRate {
  private readonly buckets = new Map<string, { msgs: TokenBucket; bytes: TokenBucket }>()
  private lastSweep = 0

  constructor(
    private readonly o: Pick<InboundLimitOptions, 'membershipMsgsPerSec' | 'membershipMsgsBurst' | 'membershipBytesPerSec' | 'membershipBytesBurst'>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Spend one message of `bytes` from `peer`; false when over its budget (the message is to be dropped). */
  allow(peer: string, bytes: number): boolean {
    const now = this.now()
    if (now - this.lastSweep > 10_000) this.sweep(now)
    let b = this.buckets.get(peer)
    if (!b) {
      b = { msgs: new TokenBucket(this.o.membershipMsgsPerSec, this.o.membershipMsgsBurst, now), bytes: new TokenBucket(this.o.membershipBytesPerSec, this.o.membershipBytesBurst, now) }
      this.buckets.set(peer, b)
    }
    // Both must hold; a refused message spends nothing.
    if (!b.msgs.take(1, now)) return false
    if (!b.bytes.take(bytes, now)) {
      b.msgs.take(-1, now)
      return false
    }
    return true
  }

  /**
   * How long a reader of `peer` should stop reading after a refusal: until its message bucket holds a tenth of
   * its burst again. Not reading is what makes a flood cheap: the stream's flow-control window fills and the
   * sender is held back by the transport, instead of this agent decrypting and dropping every frame.
   */
  pauseMs(peer: string): number {
    const b = this.buckets.get(peer)
    if (!b) return 0
    const want = this.o.membershipMsgsBurst / 10
    return Math.min(1_000, Math.max(10, ((want - b.msgs.level(this.now())) / this.o.membershipMsgsPerSec) * 1000))
  }

  private sweep(now: number): void {
    this.lastSweep = now
    for (const [peer, b] of this.buckets) if (b.msgs.idle(now) && b.bytes.idle(now)) this.buckets.delete(peer)
  }

  get size(): number {
    return this.buckets.size
  }
}

/** A bound per peer and in total on a quantity held for a while (bytes, streams); release() gives it back. */
export class SharedBudget {
  private readonly perPeer = new Map<string, number>()
  private total = 0

  constructor(
    private readonly maxPerPeer: number,
    private readonly maxTotal: number,
  ) {}

  /** Reserve `n` for `peer`: a release function, or which bound refused it. */
  reserve(peer: string, n: number): { release: () => void } | { refused: 'peer' | 'total'; held: number; max: number } {
    const mine = this.perPeer.get(peer) ?? 0
    if (mine + n > this.maxPerPeer) return { refused: 'peer', held: mine, max: this.maxPerPeer }
    if (this.total + n > this.maxTotal) return { refused: 'total', held: this.total, max: this.maxTotal }
    this.perPeer.set(peer, mine + n)
    this.total += n
    let done = false
    return {
      release: () => {
        if (done) return
        done = true
        this.total -= n
        const left = (this.perPeer.get(peer) ?? 0) - n
        if (left > 0) this.perPeer.set(peer, left)
        else this.perPeer.delete(peer)
      },
    }
  }

  held(peer?: string): number {
    return peer === undefined ? this.total : (this.perPeer.get(peer) ?? 0)
  }
}

export type FrameResult =
  | { kind: 'frame'; bytes: Uint8Array }
  | { kind: 'end' }
  | { kind: 'bad'; reason: 'bad-length' | 'too-big' | 'truncated'; detail: string }
  | { kind: 'refused'; detail: string }
  | { kind: 'timeout' }

/** Bytes of the varint that encodes `n`. */
function varintBytes(n: number): number {
  let k = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    k++
  }
  return k
}

/**
 * Reads varint-length-prefixed frames from a libp2p stream source. Unlike it-length-prefixed-stream it refuses
 * a length prefix longer than the largest allowed length needs (a run of 0xff bytes would otherwise be read
 * forever), reports a stream that ends inside a frame (a length prefix that lied), and lets the caller admit a
 * frame by its announced length before a byte of its body is buffered.
 */
export class FrameReader {
  private readonly buf = new Uint8ArrayList()
  private readonly it: AsyncIterator<Uint8ArrayList | Uint8Array>
  private ended = false

  constructor(source: AsyncIterable<Uint8ArrayList | Uint8Array>) {
    this.it = source[Symbol.asyncIterator]()
  }

  /** Pull one chunk; false at the end of the stream. */
  private async fill(deadline: Promise<'timeout'> | undefined): Promise<boolean | 'timeout'> {
    if (this.ended) return false
    const next = this.it.next()
    const r = deadline ? await Promise.race([next, deadline]) : await next
    if (r === 'timeout') return 'timeout'
    if (r.done) {
      this.ended = true
      return false
    }
    this.buf.append(r.value)
    return true
  }

  /**
   * The next frame. `admit(length)` runs once the length is known, before the body is read: a string refuses
   * the frame. `deadline` resolves to end the wait (the stream must then be aborted by the caller).
   */
  async read(maxBytes: number, admit?: (length: number) => string | null, deadline?: Promise<'timeout'>): Promise<FrameResult> {
    const maxPrefix = varintBytes(maxBytes)
    let length = 0
    let prefix = 0
    for (;;) {
      while (this.buf.byteLength <= prefix) {
        const got = await this.fill(deadline)
        if (got === 'timeout') return { kind: 'timeout' }
        if (!got) return prefix === 0 ? { kind: 'end' } : { kind: 'bad', reason: 'truncated', detail: 'stream ended inside a length prefix' }
      }
      const byte = this.buf.get(prefix)
      length += (byte & 0x7f) * 2 ** (7 * prefix)
      prefix++
      if ((byte & 0x80) === 0) break
      if (prefix >= maxPrefix) return { kind: 'bad', reason: 'bad-length', detail: `length prefix longer than ${maxPrefix} bytes` }
    }
    if (length > maxBytes) return { kind: 'bad', reason: 'too-big', detail: `frame of ${length} bytes (limit ${maxBytes})` }
    const refusal = admit?.(length) ?? null
    if (refusal !== null) return { kind: 'refused', detail: refusal }
    while (this.buf.byteLength < prefix + length) {
      const got = await this.fill(deadline)
      if (got === 'timeout') return { kind: 'timeout' }
      if (!got) return { kind: 'bad', reason: 'truncated', detail: `stream ended after ${this.buf.byteLength - prefix} of ${length} announced bytes` }
    }
    const bytes = this.buf.subarray(prefix, prefix + length)
    this.buf.consume(prefix + length)
    return { kind: 'frame', bytes }
  }
}

/** A promise that resolves to 'timeout' after `ms`, and its cancel. */
export function deadlineAfter(ms: number): { promise: Promise<'timeout'>; cancel: () => void } {
  let t: NodeJS.Timeout | undefined
  const promise = new Promise<'timeout'>((r) => (t = setTimeout(() => r('timeout'), ms)))
  return { promise, cancel: () => clearTimeout(t) }
}

/** The shell's inbound limits and their refusal counter. */
export class InboundLimits {
  readonly o: InboundLimitOptions
  readonly membership: PeerRate
  readonly taskBytes: SharedBudget
  readonly taskStreams: SharedBudget
  private readonly refused: Counter<'limit'>
  private readonly logged = new Set<string>()

  constructor(
    registry: Registry,
    private readonly log: Logger,
    options: Partial<InboundLimitOptions> = {},
  ) {
    this.o = { ...inboundLimitDefaults, ...options }
    this.membership = new PeerRate(this.o)
    this.taskBytes = new SharedBudget(this.o.taskBytesPerPeer, this.o.taskBytesTotal)
    this.taskStreams = new SharedBudget(this.o.taskStreamsPerPeer, this.o.taskStreamsTotal)
    this.refused =
      (registry.getSingleMetric('conclave_inbound_refused_total') as Counter<'limit'> | undefined) ??
      new Counter({ name: 'conclave_inbound_refused_total', help: 'Inbound messages, requests and streams refused by a per-peer or total limit, by limit', labelNames: ['limit'], registers: [registry] })
    const all: RefusedLimit[] = ['membership-rate', 'task-bytes-peer', 'task-bytes-total', 'task-streams-peer', 'task-streams-total', 'task-read-timeout', 'task-write-timeout']
    for (const limit of all) this.refused.inc({ limit }, 0)
    // The framing and structure reasons this shell adds to the bad-message counter, visible at 0 from the start.
    const bad = registry.getSingleMetric('conclave_bad_messages_dropped_total') as Counter<'reason'> | undefined
    for (const reason of ['bad-length', 'truncated', 'structure']) bad?.inc({ reason }, 0)
  }

  /** Count a refusal; log it once per (peer, limit) so a flooding peer cannot flood the log as well. */
  refuse(peer: string, limit: RefusedLimit, detail: string): void {
    this.refused.inc({ limit })
    const key = `${peer} ${limit}`
    if (this.logged.has(key) || this.logged.size > 10_000) return
    this.logged.add(key)
    this.log.warn({ peer, limit, detail }, `refused inbound traffic from ${peer} (${limit}: ${detail}); further refusals are only counted`)
  }
}
