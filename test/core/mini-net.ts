// A small deterministic network of real cores for unit tests: fixed delay, optional loss, blocked links.
// (The full simulator with fault schedules lives in src/sim.)
import { ClusterCore } from '../../src/core/node.ts'
import { protocolDefaults } from '../../src/core/defaults.ts'
import type { CoreConfig, CoreEvent, Effect, Message, StoredState } from '../../src/core/types.ts'

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface InFlight { at: number; from: string; to: string; msg: Message }

export class MiniNet {
  now = 0
  cores = new Map<string, ClusterCore>()
  down = new Set<string>()
  blocked = new Set<string>() // "a>b": messages from a to b are dropped
  events: Array<{ at: number; node: string; event: CoreEvent }> = []
  /** Checked after every step: at most one master under quorum=majority, and terms never go back. */
  violations: string[] = []
  checkSingleMaster = true
  private lastTerm = new Map<string, number>()
  /** What each node last persisted (its data dir); `wipe(id)` forgets it. */
  readonly stored = new Map<string, StoredState>()
  private queue: InFlight[] = []
  private rng: () => number

  constructor(readonly seed = 1, readonly delayMs = 2, readonly loss = 0) {
    this.rng = mulberry32(seed)
  }

  add(id: string, overrides: Partial<CoreConfig> = {}, seeds: string[] = []): ClusterCore {
    // A restart keeps what the node persisted, as the agent does through its data dir.
    const stored = this.stored.get(id)
    const cfg: CoreConfig = { ...protocolDefaults, id, peer: 'p:' + id, addrs: ['/sim/' + id], wallClockAtStart: this.now, ...(stored ? { stored } : {}), ...overrides }
    const core = new ClusterCore(cfg, mulberry32(this.seed * 1000 + this.cores.size + 1), this.now)
    this.cores.set(id, core)
    this.down.delete(id)
    this.apply(id, core.start(seeds.map((s) => ({ peer: 'p:' + s, addrs: ['/sim/' + s] })), this.now))
    return core
  }

  /** The node's data dir is gone: its next start is a new node. */
  wipe(id: string): void {
    this.stored.delete(id)
  }

  crash(id: string): void {
    this.down.add(id)
    // Peers see the TCP connection drop: a hint, not a verdict.
    for (const [other, c] of this.cores) if (!this.down.has(other)) this.apply(other, c.observe({ type: 'peer-disconnected', peer: 'p:' + id }, this.now))
  }

  partition(...groups: string[][]): void {
    this.blocked.clear()
    for (const g of groups) for (const h of groups) if (g !== h) for (const a of g) for (const b of h) this.blocked.add(a + '>' + b)
  }

  heal(): void {
    this.blocked.clear()
  }

  apply(from: string, effects: Effect[]): void {
    for (const e of effects) {
      if (e.type === 'emit') this.events.push({ at: this.now, node: from, event: e.event })
      else if (e.type === 'persist') this.stored.set(from, structuredClone(e.state))
      else if (e.type === 'send') this.deliver(from, e.to.slice(2), e.msg)
      else for (const to of this.cores.keys()) if (to !== from) this.deliver(from, to, e.msg)
    }
  }

  /** Every message a node sent, in order (delivered or not). */
  readonly sent: Array<{ at: number; from: string; to: string; msg: Message }> = []

  /** Rewrites or drops (null) a message in flight; applied after `sent` records it. */
  filter: ((from: string, to: string, msg: Message) => Message | null) | null = null

  private deliver(from: string, to: string, sentMsg: Message): void {
    this.sent.push({ at: this.now, from, to, msg: sentMsg })
    const msg = this.filter ? this.filter(from, to, sentMsg) : sentMsg
    if (!msg) return
    if (this.blocked.has(from + '>' + to) || this.rng() < this.loss) return
    if (!this.cores.has(to)) return
    if (this.down.has(to)) {
      // Connection refused.
      if (msg.t === 'ping') this.queue.push({ at: this.now + 1, from: to, to: from, msg: { t: 'nack', seq: -1, from: '!refused:' + to } })
      return
    }
    this.queue.push({ at: this.now + this.delayMs, from, to, msg: structuredClone(msg) })
  }

  run(ms: number, step = 10): void {
    const end = this.now + ms
    while (this.now < end) {
      this.now += step
      this.queue.sort((a, b) => a.at - b.at)
      while (this.queue.length && this.queue[0]!.at <= this.now) {
        const m = this.queue.shift()!
        const core = this.cores.get(m.to)
        if (!core || this.down.has(m.to)) continue
        if (m.msg.t === 'nack' && m.msg.from.startsWith('!refused:')) {
          this.apply(m.to, core.observe({ type: 'send-failed', peer: 'p:' + m.msg.from.slice(9), refused: true }, this.now))
          continue
        }
        this.apply(m.to, core.receive('p:' + m.from, m.msg, this.now))
      }
      for (const [id, c] of this.cores) if (!this.down.has(id)) this.apply(id, c.tick(this.now))
      this.check()
    }
  }

  private check(): void {
    const masters = this.masters()
    if (this.checkSingleMaster && masters.length > 1) this.violations.push(`${this.now}: two masters ${masters.join(',')}`)
    for (const [id, c] of this.cores) {
      const t = c.status(this.now).term
      if (t < (this.lastTerm.get(id) ?? 0)) this.violations.push(`${this.now}: ${id} term went back to ${t}`)
      this.lastTerm.set(id, t)
    }
  }

  live(): ClusterCore[] {
    return [...this.cores.entries()].filter(([id]) => !this.down.has(id)).map(([, c]) => c)
  }

  masters(): string[] {
    return this.live().filter((c) => c.isMaster(this.now)).map((c) => c.config.id)
  }

  stateOf(observer: string, id: string): string | undefined {
    return this.cores.get(observer)!.member(id)?.state
  }
}
