// The submitter's state machine: what the node a task was submitted to does until the task has an outcome —
// route, run here or forward, follow redirects, and retry through a failover until the deadline. Pure: the agent's
// task service (src/tasks/service.ts) and the simulator's task client (src/sim/world.ts) both drive this one machine
// and only carry out its steps (run, send, wait), so the simulator exercises exactly the agent's retry rules.
//
//   S1  A task id is delivered under a new attempt number only when it may have started somewhere already (a
//       forward whose answer was lost, a run here that was fenced, an outcome "interrupted"), and not for a retry to
//       the same node under the same term, which that node treats idempotently (join or stored outcome).
//   S2  A redirect is followed only when it names a master at least as fresh as our own view (routing.ts).
//   S3  Routing decisions come from routeSubmit (routing.ts); the deadline ends the machine with an explicit error.

import { routeSubmit, type SubmitDecision, type SubmitView } from './routing.ts'
import type { MasterView } from './types.ts'

/**
 * Longest wait between two routing decisions (ms). The shell ends a wait early when the master it recognises
 * changes (the agent's waitForMaster), so this only bounds polling while nothing happens.
 */
export const SUBMIT_WAIT_MS = 250
/** Back-off after a redirect: short at first, longer once redirects repeat (two stale views must not ping-pong). */
export const REDIRECT_BACKOFF_MS = { first: 20, repeated: SUBMIT_WAIT_MS } as const

export type SubmitStep =
  | { kind: 'run-local'; attempt: number; term: number | undefined }
  | { kind: 'forward'; attempt: number; to: string; term: number | undefined }
  | { kind: 'wait'; ms: number; reason: string }
  | { kind: 'fail'; error: Extract<SubmitDecision, { action: 'fail' }>['error']; reason: string; attempt: number; lastTarget: string | null }

export class Submission {
  private attemptNo: number
  /** A delivery that may have started: the next one is a new attempt unless it goes to the same node and term (S1). */
  private lost: { node: string; term: number | undefined } | null = null
  private redirect: MasterView | null = null
  private redirects = 0
  lastTarget: string | null = null

  constructor(firstAttempt = 1) {
    this.attemptNo = firstAttempt
  }

  get attempt(): number {
    return this.attemptNo
  }

  /** The next step, from this node's view now. `masterTerm` is the term this node recognises (for a local run). */
  next(view: Omit<SubmitView, 'redirect'>, masterTerm: number | undefined): SubmitStep {
    const d = routeSubmit({ ...view, redirect: this.redirect })
    switch (d.action) {
      case 'fail':
        return { kind: 'fail', error: d.error, reason: d.reason, attempt: this.attemptNo, lastTarget: this.lastTarget }
      case 'wait':
        return { kind: 'wait', ms: SUBMIT_WAIT_MS * 4, reason: d.reason }
      case 'run-local':
        if (this.lost) {
          this.attemptNo++
          this.lost = null
        }
        return { kind: 'run-local', attempt: this.attemptNo, term: d.term ?? masterTerm }
      case 'forward':
        if (this.lost && (this.lost.node !== d.to || this.lost.term !== d.term)) {
          this.attemptNo++
          this.lost = null
        }
        this.lastTarget = d.to
        return { kind: 'forward', attempt: this.attemptNo, to: d.to, term: d.term }
    }
  }

  /** The forward target is not a live member: forget any redirect towards it and decide again shortly. */
  targetGone(): number {
    this.redirect = null
    return SUBMIT_WAIT_MS
  }

  /** A local run was fenced (this node lost the master role mid-run): retry on the next master. */
  fenced(self: string, term: number | undefined): number {
    this.lost = { node: self, term }
    return SUBMIT_WAIT_MS
  }

  /** The target answered "interrupted" (it was stopping, or its queue refused): it may have started; retry. */
  interrupted(target: string): number {
    this.lost = { node: target, term: undefined }
    return SUBMIT_WAIT_MS
  }

  /** The target is not master and names the one it believes in: follow it (S2) after a short back-off. */
  redirected(master: MasterView | null): number {
    this.redirects++
    this.redirect = master
    return this.redirects > 2 ? REDIRECT_BACKOFF_MS.repeated : REDIRECT_BACKOFF_MS.first
  }

  /** No answer (connection lost, master died, timed out, the master changed under us): same id, next attempt. */
  lostForward(target: string, term: number | undefined): number {
    this.lost = { node: target, term }
    this.redirect = null
    return SUBMIT_WAIT_MS
  }
}
