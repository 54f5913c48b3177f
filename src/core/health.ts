// Lifeguard local health awareness (Dadgar et al., 2018): a node whose probes fail without the helpers' nacks,
// or that has to refute suspicions of itself, is probably the slow one. Its score stretches its own probe
// interval and timeouts (x (1 + score)), so a struggling node accuses others less eagerly.

export class LocalHealth {
  private value = 0

  constructor(private readonly max: number) {}

  get score(): number {
    return this.value
  }

  /** Stretch factor for this node's probe interval and timeouts. */
  get factor(): number {
    return 1 + this.value
  }

  /** A probe failed without the helpers' nacks, or others suspect this node. */
  worse(): void {
    this.value = Math.min(this.max, this.value + 1)
  }

  /** A probe succeeded. */
  better(): void {
    if (this.value > 0) this.value--
  }
}
