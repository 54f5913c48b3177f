// What every concern of the core shares: the configuration, the injected randomness, the member table and the
// outbox of one step. Modules read and write the table and queue effects here; only ClusterCore.finish() drains
// the outbox (so a persist effect can be placed ahead of every send of the same step).

import type { CoreConfig, CoreEvent, Effect, Member, Message, PeerKey } from './types.ts'

export class Ctx {
  readonly members = new Map<string, Member>()
  readonly idByPeer = new Map<PeerKey, string>()
  readonly self: Member
  /** Effects of the current step, in order. */
  out: Effect[] = []
  private seq = 0
  /** Set while `reconnecting` runs: its sends carry Effect.reconnect. */
  private reconnect = false

  constructor(
    readonly config: CoreConfig,
    readonly rng: () => number,
    readonly startedAt: number,
  ) {
    this.self = {
      id: config.id,
      peer: config.peer,
      addrs: [...config.addrs],
      incarnation: config.stored?.incarnation ?? 0,
      state: 'alive',
      since: startedAt,
      aliveSince: startedAt,
    }
    if (config.tags && Object.keys(config.tags).length > 0) this.self.tags = { ...config.tags }
    this.members.set(config.id, this.self)
    this.idByPeer.set(config.peer, config.id)
  }

  nextSeq(): number {
    return ++this.seq
  }

  isLive(m: Member | undefined): boolean {
    return m !== undefined && (m.state === 'alive' || m.state === 'suspect')
  }

  liveOthers(): Member[] {
    const out: Member[] = []
    for (const m of this.members.values()) if (m !== this.self && (m.state === 'alive' || m.state === 'suspect')) out.push(m)
    return out
  }

  /** Whether any other member is live (without building the list). */
  anyLiveOther(): boolean {
    for (const m of this.members.values()) if (m !== this.self && (m.state === 'alive' || m.state === 'suspect')) return true
    return false
  }

  /** Live members, self included. */
  live(): Member[] {
    const out: Member[] = []
    for (const m of this.members.values()) if (m.state === 'alive' || m.state === 'suspect') out.push(m)
    return out
  }

  /** Alive (not suspected, not gone) in this node's view. */
  isAliveId(id: string): boolean {
    return this.members.get(id)?.state === 'alive'
  }

  isGone(id: string): boolean {
    const m = this.members.get(id)
    return !m || m.state === 'dead' || m.state === 'left'
  }

  memberOfPeer(peer: PeerKey): Member | undefined {
    const id = this.idByPeer.get(peer)
    return id !== undefined ? this.members.get(id) : undefined
  }

  addrsOfPeer(peer: PeerKey): string[] {
    return [...(this.memberOfPeer(peer)?.addrs ?? [])]
  }

  send(to: PeerKey, msg: Message, addrs?: string[], reconnect = this.reconnect): void {
    const e: Extract<Effect, { type: 'send' }> = { type: 'send', to, addrs: addrs ? [...addrs] : this.addrsOfPeer(to), msg }
    if (reconnect) e.reconnect = true
    this.out.push(e)
  }

  /** Every send `f` makes crosses what may have been a partition (Effect.reconnect). */
  reconnecting(f: () => void): void {
    const was = this.reconnect
    this.reconnect = true
    try {
      f()
    } finally {
      this.reconnect = was
    }
  }

  emit(event: CoreEvent): void {
    this.out.push({ type: 'emit', event })
  }

  pick<T>(items: T[], n: number): T[] {
    return this.shuffle([...items]).slice(0, n)
  }

  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng() * (i + 1))
      ;[a[i], a[j]] = [a[j]!, a[i]!]
    }
    return a
  }
}

/** A broken rule of the protocol: a bug, never bad input (bad input is dropped before it gets here). */
export function invariant(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`core invariant broken: ${what}`)
}
