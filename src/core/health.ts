// Lifeguard local health awareness (Dadgar et al., 2018): a node whose probes fail without the helpers' nacks,
// or that has to refute suspicions of itself, is probably the slow one. Its score stretches its own probe
// interval and timeouts (x (1 + score)), so a struggling node accuses others less eagerly.
//
// Issue 13 goes one step further (rule M1, docs/membership.md): a node that hears nobody holds back its verdicts
// altogether. After DEAF_PROBES probes in a row that nothing answered, not the target and not one helper's nack, it
// raises no suspicion, confirms none and declares nobody dead until something answers again; what it suspected
// while deaf is looked at afresh. The score alone cannot tell deaf from cut off: the minority of a 2|3 partition also
// misses the nacks of the far side, yet its own side answers, and it must go on judging the far side dead.

/**
 * Probes in a row with no answer at all (no ack, no nack) after which this node holds its verdicts. Two: one such
 * probe happens when the three helpers picked all sit across a partition; a node whose ingress is blocked reaches two
 * about 1.6 s after it went deaf, before any suspicion it raised could time out (0.5 s x log10(n) x 6 = 3 s).
 */
export const DEAF_PROBES = 2
/**
 * Silence after which this node counts as deaf even before a probe completed: it hears its own acks every probe
 * interval (500 ms) and others' probes and lease traffic in between, so 2 s of nothing at all means its ingress is
 * gone. Probes alone can be too slow to tell: stretched by a high score (x 7), one takes 5.6 s, longer than a 5 s spell.
 */
export const DEAF_SILENCE_MS = 2_000

export class LocalHealth {
  private value = 0
  private deaf = 0
  private silent = false
  private heardAt: number
  /** Local time of the last probe that failed or went unanswered, and of the last that was answered. */
  private troubleAt = -Infinity
  private answeredAt = -Infinity
  /** F1: set while this node holds its return (membership.ts); it then probes at the base rate too. */
  held = false

  constructor(
    private readonly max: number,
    now: number,
  ) {
    this.heardAt = now
  }

  get score(): number {
    return this.value
  }

  /**
   * Stretch factor for this node's probe interval and timeouts. A deaf node probes at the base rate and timeouts: it
   * accuses nobody meanwhile (M1), and its next probe is what finds the network back, so stretching it (up to
   * 9 x 500 ms, with timeouts of 3.6 s that keep every member under a probe at once) would only delay the heal. A
   * flapping node holding its return (F1) does the same: it is out already, and its quiet test needs fresh probes.
   */
  get factor(): number {
    return this.holding || this.held ? 1 : 1 + this.value
  }

  /** M1: this node hears nobody, so its own failed probes say nothing about the others. */
  get holding(): boolean {
    return this.deaf >= DEAF_PROBES || this.silent
  }

  /** Every tick: deaf by silence when nothing at all arrived for DEAF_SILENCE_MS while there is someone to hear. */
  tick(now: number, others: boolean): void {
    this.silent = others && now - this.heardAt >= DEAF_SILENCE_MS
  }

  /** When `tick` would find this node deaf by silence (Infinity: already so, or nobody to hear). */
  nextDeadline(others: boolean): number {
    return others && !this.silent ? this.heardAt + DEAF_SILENCE_MS : Infinity
  }

  /** A probe failed and nothing answered: neither the target nor any helper. */
  unheard(): void {
    this.deaf++
  }

  /** Local time the last deaf spell ended (F1 counts the claims refuted right after one as deaths). */
  deafEndedAt = -Infinity

  /** Something arrived (any message, a refused dial). True when this ends a deaf spell (M1). */
  heard(now: number): boolean {
    const was = this.holding
    this.deaf = 0
    this.silent = false
    this.heardAt = now
    if (was) this.deafEndedAt = now
    return was
  }

  /**
   * How long no probe of this node's failed or went unanswered (F1's test of "well": the score itself falls by one
   * per success, at an interval stretched by the score, so from 8 it takes about 22 s to reach 0).
   */
  quietFor(now: number): number {
    return now - this.troubleAt
  }

  /** How long ago a probe of this node's was last answered. */
  answeredAgo(now: number): number {
    return now - this.answeredAt
  }

  /** One of this node's probes failed or nothing answered it (now: for quietFor). */
  trouble(now: number): void {
    this.troubleAt = now
  }

  /** A probe failed without the helpers' nacks, or others suspect this node. */
  worse(): void {
    this.value = Math.min(this.max, this.value + 1)
  }

  /** A probe succeeded. */
  better(now: number): void {
    if (this.value > 0) this.value--
    this.answeredAt = now
  }
}
