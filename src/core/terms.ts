// The terms record: every number the fencing token depends on, in one place, with its invariants.
//
//   T1  maxTerm never decreases, across restarts too (it is stored, and a stored record is the floor).
//   T2  promised <= maxTerm: a voter's promise is a term it heard of.
//   T3  promised never decreases: a voter grants a new mastership only for a term above every one it granted.
//   T4  a mastership's term is <= maxTerm once held, and above the promise of every voter that granted it
//       (the voters enforce it: decideGrant refuses term <= promised), so two masterships of one lineage never
//       share a term, and later ones have higher terms.
//   T5  once a mastership under `candidate` ended, that term is spent: it is never held again (its masterOnly
//       work was fenced), so the next campaign asks for a term above maxTerm.
//
// Durability: `durable` is what must be on disk before a message that depends on it leaves (a grant carries
// the promise; a campaign or an announcement carries maxTerm). The core persists on every change of it.

import { invariant } from './context.ts'

export class Terms {
  private max: number
  private promise: number
  private cand = 0
  /** The candidate term was used for a mastership that ended. */
  spent = false

  constructor(stored?: { maxTerm: number; promisedTerm: number }) {
    this.max = stored?.maxTerm ?? 0
    this.promise = stored?.promisedTerm ?? 0
    this.check()
  }

  get maxTerm(): number {
    return this.max
  }

  get promised(): number {
    return this.promise
  }

  get candidate(): number {
    return this.cand
  }

  /** A term heard of (message, config, campaign). */
  observe(term: number): void {
    if (term > this.max) this.max = term
  }

  /** As a voter: grant a lease under `term` (a renewal of the same grant keeps the promise). */
  promiseTerm(term: number): void {
    invariant(term >= this.promise, `T3: promise ${term} below ${this.promise}`)
    this.promise = term
    this.observe(term)
  }

  /** A promise learned while amnesiac, or a jump above every term heard (recovery): raises the floor. */
  raiseFloor(term: number): void {
    if (term > this.promise) this.promise = term
    this.observe(term)
  }

  /** Campaign under `term`. */
  campaign(term: number): void {
    invariant(term > this.cand || (term === this.cand && !this.spent), `T5: campaign term ${term} reuses ${this.cand}`)
    this.cand = term
    this.spent = false
    // Not observed yet: maxTerm rises when a voter grants it (or refuses it with its own higher term). A campaign
    // that nobody granted must not make its own term look taken, or every round would move to the next one.
  }

  /** The next term a new campaign asks for: above everything heard and everything promised. */
  next(): number {
    return Math.max(this.max, this.promise, this.cand) + 1
  }

  durable(): { maxTerm: number; promisedTerm: number } {
    return { maxTerm: this.max, promisedTerm: this.promise }
  }

  check(): void {
    invariant(this.promise <= this.max, `T2: promised ${this.promise} > maxTerm ${this.max}`)
  }
}
