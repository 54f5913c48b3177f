// Polls every agent's /v1/status on its own loop, keeps the latest view of each, records every change
// in the timeline and checks that no agent's term ever goes backwards.
import type { Cluster } from './cluster.ts'
import type { Status } from './api.ts'
import type { Timeline } from './timeline.ts'
import { sleep } from './sys.ts'

interface Seen { master: string; states: Map<string, string>; quorum: string; up: boolean | null; maxTerm: number | null }

export class Monitor {
  readonly latest = new Map<string, Status | null>()
  readonly violations: string[] = []
  private seen = new Map<string, Seen>()
  /** Every cluster id an agent reported: one cluster, one lineage (a scenario that splits a cold start expects more). */
  readonly clusterIds = new Set<string>()
  /** `<cluster>:<term>` -> the agent that held the master role under it: never two holders of one term. */
  private readonly termHolders = new Map<string, string>()
  private loops = new Map<string, Promise<void>>()
  private running = false
  private supervisor: Promise<void> | null = null
  polls = 0

  /** `exclusive`: quorum=majority, where one term has one master holder; quorum=none has a master per partition. */
  constructor(private cluster: Cluster, private tl: Timeline, private intervalMs = 250, private exclusive = true) {}

  start(): void {
    this.running = true
    this.supervisor = (async () => {
      while (this.running) {
        for (const id of this.cluster.ids()) if (!this.loops.has(id)) this.loops.set(id, this.loop(id))
        await sleep(200)
      }
    })()
  }

  async stop(): Promise<void> {
    this.running = false
    await this.supervisor
    await Promise.all(this.loops.values())
  }

  /** Polls once more now (used right before a check that must see the current state). */
  async refresh(): Promise<void> {
    await Promise.all(this.cluster.ids().map((id) => this.pollOnce(id)))
  }

  private async loop(id: string): Promise<void> {
    while (this.running) {
      const t = Date.now()
      await this.pollOnce(id)
      await sleep(Math.max(20, this.intervalMs - (Date.now() - t)))
    }
  }

  private async pollOnce(id: string): Promise<void> {
    const n = this.cluster.node(id)
    // A killed or departed agent has no API; don't wait on it.
    const st = n.proc === 'killed' || n.proc === 'left' || n.proc === 'stopped' ? null : await this.cluster.status(id, 1000)
    this.polls++
    this.observe(id, st)
  }

  private observe(id: string, st: Status | null): void {
    this.latest.set(id, st)
    let seen = this.seen.get(id)
    if (!seen) { seen = { master: '', states: new Map(), quorum: '', up: null, maxTerm: null }; this.seen.set(id, seen) }
    const up = st !== null
    if (seen.up !== up) {
      if (seen.up !== null || !up) this.tl.add('api', { node: id, up, proc: this.cluster.node(id).proc })
      seen.up = up
    }
    if (!st) return
    if (st.clusterId) this.clusterIds.add(st.clusterId)
    if (this.exclusive && st.role === 'master' && st.master) {
      const key = `${st.clusterId ?? '-'}:${st.master.term}`
      const holder = this.termHolders.get(key)
      if (holder !== undefined && holder !== id) {
        const v = `two masters under one term: ${holder} and ${id} both held term ${st.master.term} in cluster ${st.clusterId}`
        this.tl.add('violation', { node: id, what: v })
        if (!this.violations.includes(v)) this.violations.push(v)
      }
      this.termHolders.set(key, id)
    }
    const master = st.master ? `${st.master.id}@${st.master.term}` : 'none'
    if (master !== seen.master) {
      this.tl.add('master', { node: id, master: st.master?.id ?? null, term: st.master?.term ?? null })
      seen.master = master
      // checked on changes only, so one regression is reported once, not at every poll
      if (st.master && seen.maxTerm !== null && st.master.term < seen.maxTerm) {
        const v = `term went backwards on ${id}: it had seen term ${seen.maxTerm}, now reports master ${st.master.id} under term ${st.master.term}`
        this.tl.add('violation', { node: id, what: v })
        if (!this.violations.includes(v)) this.violations.push(v) // the timeline has every occurrence
      }
    }
    if (st.master) seen.maxTerm = Math.max(seen.maxTerm ?? 0, st.master.term)
    const q = `${st.quorum.has}:${st.quorum.visible}/${st.quorum.voting}:${st.quorum.needed}`
    if (q !== seen.quorum) {
      this.tl.add('quorum', { node: id, has: st.quorum.has, visible: st.quorum.visible, voting: st.quorum.voting, needed: st.quorum.needed })
      seen.quorum = q
    }
    for (const m of st.members) {
      if (m.id === id) continue
      if (seen.states.get(m.id) !== m.state) {
        this.tl.add('member', { node: id, member: m.id, state: m.state, incarnation: m.incarnation })
        seen.states.set(m.id, m.state)
      }
    }
  }

  /** A node started over with a wiped data dir: its terms start again, so the terms-never-back check restarts too. */
  forget(id: string): void {
    this.seen.delete(id)
  }

  // ---- views for the scenarios ----
  status(id: string): Status | null { return this.latest.get(id) ?? null }
  masterOf(id: string): string | null { return this.status(id)?.master?.id ?? null }
  termOf(id: string): number | null { return this.status(id)?.master?.term ?? null }
  stateOf(observer: string, member: string): string | null {
    return this.status(observer)?.members.find((m) => m.id === member)?.state ?? null
  }
  maxTerm(id: string): number | null { return this.seen.get(id)?.maxTerm ?? null }
}
