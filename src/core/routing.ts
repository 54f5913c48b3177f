// Task routing: where a task runs. Pure decisions, no I/O, no clock: the shell passes in what it sees
// (its own id, the master it recognises, whether it holds a majority of lease grants right now, the quorum view,
// the deadline and the time) and carries out the answer. Every rule about where a task may run lives here.
import type { MasterView, MemberState, QuorumView } from './types.ts'
import { compareIds } from './order.ts'

/** A member that might run a task placed with `where` (tags), as the submitting node sees it. */
export interface PlacementCandidate {
  id: string
  state: MemberState
  tags: Record<string, string>
  /** Load of the task's type on that member from its last fresh report (running + queued vs concurrency); null: unknown. */
  load: { running: number; queued: number; concurrency: number } | null
  /** The member declared the task's type (from its load report); null: unknown (no fresh report). */
  knowsType: boolean | null
}

export interface SubmitView {
  /** The task type may run only on the master. */
  masterOnly: boolean
  /** This node's id. */
  self: string
  /** The master this node recognises (null: none, or no quorum in its view). */
  master: MasterView | null
  /** This node holds a majority of lease grants right now (under quorum=none: it is the master it recognises). */
  isMaster: boolean
  quorum: QuorumView
  /** A master named by a redirect from another node, with the term it believed in. Used only when at least as fresh as our own view. */
  redirect?: MasterView | null
  /** Absolute deadline of the task and the current time, on the same clock. */
  deadline: number
  now: number
  /** Tags a member must have to run the task (only for tasks that are not masterOnly); empty or absent: run here. */
  where?: Record<string, string>
  /** Members to choose from when `where` is given. */
  candidates?: PlacementCandidate[]
}

export type SubmitDecision =
  /** Run on this node. `term` is the master term to hand to the handler (the fencing token), when this node is master. */
  | { action: 'run-local'; term?: number }
  /** Forward over the task protocol: to the master (masterOnly), or to the member chosen by `where` (term: the master's, if any). */
  | { action: 'forward'; to: string; term: number | undefined }
  /** No master to send to yet: wait for a master change (or a short back-off), then decide again. */
  | { action: 'wait'; reason: string }
  /** Give up: the deadline passed. `error` names the cause for the caller. */
  | { action: 'fail'; error: 'no-master' | 'no-match' | 'timeout'; reason: string }

/** "no master: 2 of 5 voting members visible, 3 needed" — the operator-facing reason a masterOnly task cannot run. */
export function noMasterReason(quorum: QuorumView, self: string, master: MasterView | null, isMaster: boolean): string {
  if (!quorum.has) {
    return `no master: ${quorum.visible} of ${quorum.voting} voting members visible, ${quorum.needed} needed`
  }
  if (master && master.id === self && !isMaster) {
    return `no master: ${self} is the master candidate but does not hold a majority of lease grants yet`
  }
  return `no master: quorum present (${quorum.visible} of ${quorum.voting} visible) but no master elected yet`
}

/** Decide where a task submitted to (or retried by) this node runs next. */
export function routeSubmit(v: SubmitView): SubmitDecision {
  // Local tasks run where they were submitted, deadline or not; the executor enforces the run timeout.
  if (!v.masterOnly) {
    if (v.where && Object.keys(v.where).length > 0) return routeWhere(v, v.where)
    if (v.now >= v.deadline) return { action: 'fail', error: 'timeout', reason: 'deadline passed before the task could start' }
    return { action: 'run-local' }
  }
  const target = pickMaster(v.master, v.redirect ?? null, v.self, v.isMaster)
  if (v.now >= v.deadline) {
    if (target === null) return { action: 'fail', error: 'no-master', reason: noMasterReason(v.quorum, v.self, v.master, v.isMaster) }
    return { action: 'fail', error: 'timeout', reason: `deadline passed while the task was routed to master ${target.id}` }
  }
  if (v.isMaster) return { action: 'run-local', term: v.master?.id === v.self ? v.master.term : undefined }
  if (target === null) return { action: 'wait', reason: noMasterReason(v.quorum, v.self, v.master, v.isMaster) }
  return { action: 'forward', to: target.id, term: target.term }
}

/** "role=web,zone=a" */
export function whereText(where: Record<string, string>): string {
  return Object.entries(where).map(([k, v]) => `${k}=${v}`).join(',')
}

export function matchesWhere(tags: Record<string, string>, where: Record<string, string>): boolean {
  return Object.entries(where).every(([k, v]) => tags[k] === v)
}

/**
 * The member a `where` task runs on: one alive member with every tag, that has not said it lacks the type, chosen by
 * load (the lowest (running + queued) / concurrency of the type; unknown load after every known one). Ties go to
 * this node (no hop), then to the lowest id, so concurrent submitters agree when loads are equal.
 */
export function pickWhere(candidates: PlacementCandidate[], where: Record<string, string>, self: string): PlacementCandidate | null {
  const eligible = candidates.filter((c) => c.state === 'alive' && c.knowsType !== false && matchesWhere(c.tags, where))
  if (eligible.length === 0) return null
  const score = (c: PlacementCandidate) => (c.load ? (c.load.running + c.load.queued) / Math.max(1, c.load.concurrency) : Infinity)
  return eligible.sort((a, b) => score(a) - score(b) || Number(b.id === self) - Number(a.id === self) || compareIds(a.id, b.id))[0] ?? null
}

function routeWhere(v: SubmitView, where: Record<string, string>): SubmitDecision {
  const pick = pickWhere(v.candidates ?? [], where, v.self)
  if (v.now >= v.deadline) {
    if (pick === null) return { action: 'fail', error: 'no-match', reason: `no live member with tags ${whereText(where)} that runs this type` }
    return { action: 'fail', error: 'timeout', reason: `deadline passed while the task was placed on ${pick.id}` }
  }
  if (pick === null) return { action: 'wait', reason: `no live member with tags ${whereText(where)} that runs this type` }
  if (pick.id === v.self) return { action: 'run-local' }
  return { action: 'forward', to: pick.id, term: v.master?.term }
}

/**
 * The master to forward to: our own view, unless a redirect names a master with a term at least as high
 * (the redirecting node has heard of a newer mastership than we have). A master that is this node but
 * does not hold a majority right now is no target: we must not run it and cannot forward it to ourselves.
 */
function pickMaster(own: MasterView | null, redirect: MasterView | null, self: string, isMaster: boolean): MasterView | null {
  let pick = own
  if (redirect && (pick === null || redirect.term >= pick.term)) pick = redirect
  if (pick && pick.id === self && !isMaster) {
    // A redirect naming us while we do not hold the lease: fall back to our own view if it names someone else.
    if (own && own.id !== self) return own
    return null
  }
  return pick
}

export interface ReceiveView {
  masterOnly: boolean
  /** The type is known to this node (declared in its config or registered with handle()). */
  known: boolean
  self: string
  master: MasterView | null
  isMaster: boolean
  /** This node already finished the task id (succeeded or failed): the stored outcome is returned. */
  finished: boolean
  /** This node is running (or queued) the task id right now: join it instead of starting it twice. */
  inProgress: boolean
}

export type ReceiveDecision =
  | { action: 'stored' }
  | { action: 'join' }
  | { action: 'run'; term?: number }
  /** Not master with quorum: name the master this node believes in (null when it knows none). */
  | { action: 'redirect'; master: MasterView | null }
  | { action: 'reject'; error: 'unknown-type'; reason: string }

/** Decide what a node does with a task forwarded to it by another agent. */
export function routeReceive(v: ReceiveView): ReceiveDecision {
  // Idempotence first: a finished id returns its stored outcome even if this node is no longer master.
  if (v.finished) return { action: 'stored' }
  if (v.inProgress) return { action: 'join' }
  if (!v.known) return { action: 'reject', error: 'unknown-type', reason: `unknown task type on ${v.self}` }
  if (v.masterOnly && !v.isMaster) {
    const believed = v.master && v.master.id !== v.self ? v.master : null
    return { action: 'redirect', master: believed }
  }
  return { action: 'run', term: v.isMaster && v.master?.id === v.self ? v.master.term : undefined }
}

/** What a masterOnly run that was decided earlier sees when it is about to start. */
export interface StartView {
  self: string
  master: MasterView | null
  isMaster: boolean
}

/**
 * May a masterOnly attempt, accepted while this node was master under `term`, start now? null: yes; else why not.
 *
 * Routing decides when a task arrives, but a task can start much later: it waits in its type's queue behind
 * `concurrency` running ones, or it is the next of its `retries`. The fence on stepping down kills the running
 * ones, and their freed slots used to start the queued ones at once, under the old term, beside the next master's
 * run of the same tasks (the flapping scenario: 4 killed, then queued ones started 1.7 s after the step-down and
 * overlapped the new master's runs by 22-103 ms). So the role is checked again where a run starts, against the
 * term it was accepted under: a node that stepped down, or became master again under a newer term, does not start it.
 */
export function masterOnlyStartRefusal(v: StartView, term: number | undefined): string | null {
  if (!v.isMaster) return `${v.self} is no longer master${term !== undefined ? ` (accepted under term ${term})` : ''}`
  if (term !== undefined && v.master?.id === v.self && v.master.term !== term) {
    return `${v.self} is master under term ${v.master.term}, not term ${term} it accepted the task under`
  }
  return null
}
