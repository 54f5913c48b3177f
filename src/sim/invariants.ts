// Invariant checker. The world reports what happens (statuses, mastership samples, declarations, task
// executions) and the checker turns broken rules into violations. Each rule is stated where it is checked.

export type ViolationKind =
  | 'core-error'
  | 'term-decreased'
  | 'two-masters'
  | 'term-not-increasing'
  | 'false-positive'
  | 'healthy-declared-dead'
  | 'no-convergence'
  | 'task-not-master'
  | 'task-fencing'
  | 'task-lost'
  | 'task-run-twice'
  | 'early-tick'

export interface Violation {
  kind: ViolationKind
  time: number
  node?: string
  detail: string
}

export interface ExecutionRecord {
  task: string
  node: string
  /** Generation of the node's process (bumps on every restart). */
  gen: number
  term: number | undefined
  start: number
  end: number | null
  interrupted: boolean
}

export class Checker {
  readonly violations: Violation[] = []
  /** Per node process: last term and maxTerm seen (a fresh core may start over; a running one must not go back). */
  private lastTerms = new Map<string, { gen: number; term: number; maxTerm: number }>()
  /**
   * Per lineage (cluster id): the highest mastership term so far and who held it (terms of successive masterships
   * must rise), and the highest execution term. Two clusters born apart keep their own records until they meet;
   * when a node merges lineage B into A, B's records fold into A's (`merged`).
   */
  private lastMastership = new Map<string, { node: string; term: number; time: number }>()
  private maxExecTerm = new Map<string, number>()
  readonly executions: ExecutionRecord[] = []
  private execByTaskNode = new Map<string, ExecutionRecord[]>()
  readonly acked = new Map<string, { node: string; time: number }>()
  /** Node -> virtual time of its last lost-state restart (the task journal went with it). */
  private lostStateAt = new Map<string, number[]>()
  falsePositives = 0
  falsePositivesStrict = 0
  healthyDeaths = 0
  crossNodeDuplicates = 0
  private maxViolations = 50

  constructor(private readonly majority: boolean) {}

  add(v: Violation): void {
    if (this.violations.length < this.maxViolations) this.violations.push(v)
  }

  /** Rule: on one running core, term and maxTerm never decrease. */
  status(node: string, gen: number, term: number, maxTerm: number, time: number): void {
    const last = this.lastTerms.get(node)
    if (last && last.gen === gen) {
      if (term < last.term) {
        this.add({ kind: 'term-decreased', time, node, detail: `term went from ${last.term} to ${term}` })
      }
      if (maxTerm < last.maxTerm) {
        this.add({ kind: 'term-decreased', time, node, detail: `maxTerm went from ${last.maxTerm} to ${maxTerm}` })
      }
      last.term = Math.max(term, last.term)
      last.maxTerm = Math.max(maxTerm, last.maxTerm)
    } else {
      this.lastTerms.set(node, { gen, term, maxTerm })
    }
  }

  /**
   * Rule (quorum=majority): every new mastership has a term higher than every earlier mastership of another
   * node. Masterships are disjoint in time (checked separately), so in virtual-time order the terms must rise.
   */
  becameMaster(node: string, term: number, time: number, cluster: string): void {
    if (!this.majority) return
    const last = this.lastMastership.get(cluster)
    if (last && last.node !== node && term <= last.term) {
      this.add({
        kind: 'term-not-increasing',
        time,
        node,
        detail: `became master with term ${term} after ${last.node} held term ${last.term} (at ${fmt(last.time)}) in cluster ${cluster}`,
      })
    }
    if (!last || term >= last.term || last.node !== node) this.lastMastership.set(cluster, { node, term, time })
  }

  /**
   * A node merged lineage `from` into `into`. Rule (C3): from here on, masterships and executions in `into` continue
   * above what `from` used; the records fold. (The node that merged carried its terms; the survivor's master moves
   * above them before it runs anything new.)
   */
  merged(from: string, into: string, maxTerm: number, time: number): void {
    const a = this.lastMastership.get(from)
    const b = this.lastMastership.get(into)
    if (a && (!b || a.term > b.term)) this.lastMastership.set(into, { ...a, node: `${a.node}@${from}`, time })
    void maxTerm
    const fromExec = this.maxExecTerm.get(from) ?? -Infinity
    if (fromExec > (this.maxExecTerm.get(into) ?? -Infinity)) this.maxExecTerm.set(into, fromExec)
  }

  twoMasters(a: string, b: string, time: number, detail: string): void {
    this.add({ kind: 'two-masters', time, node: a, detail: `${a} and ${b} both report isMaster: ${detail}` })
  }

  lostState(node: string, time: number): void {
    const list = this.lostStateAt.get(node) ?? []
    list.push(time)
    this.lostStateAt.set(node, list)
  }

  /**
   * A live node was declared dead. Always counted; a violation only when the run's loss is under the bound and
   * no fault touched the target (or the node that raised the suspicion) within the detection window.
   */
  /** Issue 13: a member connected both ways to a majority, declared dead by an observer that also was and could reach it. */
  healthyDeclaredDead(observer: string, target: string, by: string | undefined, time: number): void {
    this.healthyDeaths++
    this.add({
      kind: 'healthy-declared-dead',
      time,
      node: observer,
      detail: `${observer} declared ${target} dead (raised by ${by ?? '?'}) though both were connected both ways to each other and to a majority for the last 6 s`,
    })
  }

  falsePositive(observer: string, target: string, by: string | undefined, time: number, strict: boolean, why: string): void {
    this.falsePositives++
    if (strict) {
      this.falsePositivesStrict++
      this.add({
        kind: 'false-positive',
        time,
        node: observer,
        detail: `${observer} declared ${target} dead (raised by ${by ?? '?'}) while it was alive and undisturbed: ${why}`,
      })
    }
  }

  /**
   * Rule: a masterOnly task starts only on a node that is master with quorum at that instant (the world passes
   * the node's own isMaster and whether any other node claims mastership then), and under quorum=majority the
   * fencing token (term) of executions never goes back in time order.
   */
  executionStart(rec: ExecutionRecord, isMaster: boolean, otherMasters: string[], cluster: string): void {
    this.executions.push(rec)
    const key = `${rec.task}@${rec.node}`
    const list = this.execByTaskNode.get(key) ?? []
    list.push(rec)
    this.execByTaskNode.set(key, list)
    if (!isMaster) {
      this.add({ kind: 'task-not-master', time: rec.start, node: rec.node, detail: `task ${rec.task} started on a node that is not master` })
    }
    if (this.majority) {
      if (otherMasters.length > 0) {
        this.add({
          kind: 'task-not-master',
          time: rec.start,
          node: rec.node,
          detail: `task ${rec.task} started while ${otherMasters.join(',')} also claimed mastership`,
        })
      }
      if (rec.term === undefined) {
        this.add({ kind: 'task-fencing', time: rec.start, node: rec.node, detail: `task ${rec.task} ran without a term` })
      } else {
        const max = this.maxExecTerm.get(cluster) ?? -Infinity
        if (rec.term < max) {
          this.add({
            kind: 'task-fencing',
            time: rec.start,
            node: rec.node,
            detail: `task ${rec.task} ran under term ${rec.term} after an execution under term ${max} in cluster ${cluster}`,
          })
        }
        this.maxExecTerm.set(cluster, Math.max(max, rec.term))
      }
    }
    const same = this.execByTaskNode.get(key)!
    if (same.length > 1) {
      const prev = same[same.length - 2]
      const wiped = (this.lostStateAt.get(rec.node) ?? []).some((t) => t > prev.start && t <= rec.start)
      if (!wiped) {
        this.add({
          kind: 'task-run-twice',
          time: rec.start,
          node: rec.node,
          detail: `task ${rec.task} started again on ${rec.node} (first at ${fmt(prev.start)})`,
        })
      }
    }
    const nodes = new Set(this.executions.filter((e) => e.task === rec.task).map((e) => e.node))
    if (nodes.size > 1 && same.length === 1) this.crossNodeDuplicates++
  }

  ack(task: string, node: string, time: number): void {
    this.acked.set(task, { node, time })
  }

  /** Rule: every acknowledged task has a finished execution on the node that acknowledged it. */
  finish(): void {
    for (const [task, a] of this.acked) {
      const list = this.execByTaskNode.get(`${task}@${a.node}`) ?? []
      if (!list.some((e) => e.end !== null && e.end <= a.time && !e.interrupted)) {
        this.add({ kind: 'task-lost', time: a.time, node: a.node, detail: `task ${task} acknowledged by ${a.node} but no finished execution there` })
      }
    }
  }
}

export function fmt(t: number): string {
  return `${(t / 1000).toFixed(3)}s`
}
