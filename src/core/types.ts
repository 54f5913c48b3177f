// Types shared by the protocol core, the libp2p shell and the simulator.
// The core is pure: every input carries the time (`now`, milliseconds on a monotonic clock),
// randomness comes from an injected `rng`, and every output is an Effect for the caller to carry out.

/** Opaque transport address of a node: the libp2p PeerId string in the agent, any unique string in the simulator. */
export type PeerKey = string

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left'

/** What the cluster knows about one member; also the unit of gossip. */
export interface MemberUpdate {
  id: string
  peer: PeerKey
  addrs: string[]
  incarnation: number
  state: MemberState
  /** For suspect/dead: the id of the member that raised the suspicion (Lifeguard confirmations count distinct ones). */
  by?: string
  /** Operator labels (`--tag role=web`), set by the member itself and gossiped with its state. */
  tags?: Record<string, string>
  /**
   * The boot nonce of the process that made this claim (twin.ts): its wall-clock start (base 36), a dot and a
   * random part. Part of the signed claim, so only a holder of the member's key can set it.
   */
  boot?: string
}

export interface Member extends MemberUpdate {
  /** Local time of the last state change in this node's view. */
  since: number
  /** Local time this member last became alive (from new/dead/left); the stability window counts from here. */
  aliveSince: number
}

/**
 * The voter configuration: which members' lease grants count. Changed one member at a time by a master that
 * holds a majority of the current config (single-server changes: any majority of C and of C +- 1 member share
 * a voter), the next change only once a majority acknowledged the previous one.
 */
export interface VoterConfig {
  version: number
  /** Term of the master that wrote this version (0 for the bootstrap config). */
  term: number
  voters: string[]
  /** The member that wrote this version (its master, the bootstrapping node, the recovering node: trust.ts R7). */
  by?: string
  /** `by`'s Ed25519 signature of the config in its lineage (trust.ts configBytes), relayed with it everywhere. */
  sig?: Uint8Array
}

/**
 * The master a node recognises, piggybacked on probes so members without a vote learn it without the master
 * sending to every member: `ms` is how much longer the sender itself recognises it, so a relayed claim never
 * outlives the announcement it came from.
 */
export interface MasterClaim {
  id: string
  term: number
  ms: number
  /** The named master's own signature of (lineage, id, term) (trust.ts R7): only the master can claim itself. */
  sig?: Uint8Array
}

/** Wire messages of the protocol. Direct ones go to one peer; `updates` rides the broadcast channel (gossipsub). */
export type Message =
  /** `revive`: a probe of a member the sender holds gone (probes.ts); a flapping member answers only these (F1). */
  | { t: 'ping'; seq: number; from: string; gossip: MemberUpdate[]; cluster?: string; master?: MasterClaim; revive?: true }
  | { t: 'ack'; seq: number; from: string; gossip: MemberUpdate[]; cluster?: string; master?: MasterClaim }
  | { t: 'nack'; seq: number; from: string }
  | { t: 'ping-req'; seq: number; from: string; target: string; targetPeer: PeerKey }
  | {
      t: 'sync'
      from: string
      reply: boolean
      /** More pages of this state exchange follow (a large member list is sent in pages below the message limit). */
      more?: boolean
      members: MemberUpdate[]
      /** The sender's lineage: its cluster id (null before it bootstrapped or joined one), and lineages merged into it. */
      cluster: string | null
      retired?: string[]
      config: VoterConfig | null
      maxTerm: number
    }
  /**
   * Anti-entropy (membership.ts): a digest of the sender's member table and election header instead of the full
   * state; a receiver whose own digest differs starts a full state exchange.
   */
  | { t: 'digest'; from: string; digest: string }
  | { t: 'updates'; from: string; updates: MemberUpdate[] }
  | {
      t: 'lease-req'
      from: string
      seq: number
      /** A grant counts only inside one lineage: voters of another cluster refuse it. */
      cluster: string
      term: number
      /** true when the sender currently holds a majority (a master announcing itself). */
      master: boolean
      configVersion: number
      /** Sent when a receiver acknowledged an older config version. */
      config?: VoterConfig
      /** With `master`: the sender's signature of its master claim, so that the receiver can relay the claim (R7). */
      sig?: Uint8Array
    }
  | {
      t: 'lease-ack'
      from: string
      seq: number
      cluster: string | null
      term: number
      granted: boolean
      /** Grant length in ms, measured by the granter from when it granted. */
      durationMs: number
      maxTerm: number
      configVersion: number
      /** When refused: why, and the node this voter grants to instead. */
      reason?: 'not-lowest' | 'bound' | 'stale-term' | 'not-voter' | 'stale-config' | 'other-cluster'
      holder?: string
      /** The voter's config, when the requester's is older or differs. */
      config?: VoterConfig
    }
  | { t: 'lease-release'; from: string; term: number }
  | { t: 'leave'; from: string; incarnation: number }
  /** `conclave remove <id>` on a non-master: forwarded to the master, which drops the member from the voters. */
  | { t: 'remove'; from: string; id: string }

export type MessageType = Message['t']

/** Events the core reports to the shell (logged, counted, exposed on the API, fed to hooks). */
export type CoreEvent =
  | { type: 'member-joined'; member: Member }
  | { type: 'member-state'; member: Member; previous: MemberState }
  | { type: 'member-removed'; id: string }
  | { type: 'master-changed'; master: { id: string; term: number } | null; previous: { id: string; term: number } | null }
  | { type: 'became-master'; term: number }
  | { type: 'stepped-down'; term: number; reason: string }
  | { type: 'suspicion'; id: string; by: string }
  | { type: 'refuted'; incarnation: number }
  /** F1: this node was declared dead twice within a minute; it stays out until it has been well for heldMs. */
  | { type: 'flapping'; heldMs: number }
  /**
   * F2: this node holds member `id`'s return: a first one, while its probes go unanswered, until the member answers
   * `answers` probes sent back to back; after two removals within a minute, until `heldMs` of answers.
   */
  | { type: 'readmission-held'; id: string; until: 'answered'; answers: number }
  | { type: 'readmission-held'; id: string; until: 'quiet'; heldMs: number }
  | { type: 'probe'; target: string; ok: boolean; indirect: boolean }
  | { type: 'config-changed'; config: VoterConfig }
  /** This node bootstrapped a new cluster (no stored state, nobody else had one). */
  | { type: 'cluster-born'; clusterId: string; voters: string[] }
  /** This node joined an existing cluster (from none, or by merging its lineage into a surviving one). */
  | { type: 'cluster-joined'; clusterId: string; from: string | null; reason: 'joined' | 'merged' | 'recovered' }
  /** Another live node holds this node's id under a different key: the later joiner must stop. */
  | {
      type: 'id-conflict'
      id: string
      peer: PeerKey
      fatal: boolean
      /**
       * Set when the other holder is a second process with this node's own key (a copied data dir, twin.ts): the
       * incarnation and addresses it claimed.
       */
      twin?: { incarnation: number; addrs: string[]; boot: string }
    }
  | { type: 'left' }

/**
 * What a node must keep across restarts. The shell writes it to disk (atomic rename, fsync) before it carries out
 * any later effect of the same step: a grant, a term or a config change never leaves the process before it is durable.
 */
export interface StoredState {
  clusterId: string | null
  /** Cluster ids of lineages that merged into this one (a straggler of one of them defects on sight). */
  retired: string[]
  config: VoterConfig | null
  /** Highest term heard of: the fencing token never goes back, across restarts too. */
  maxTerm: number
  /** Highest term granted as a voter: a new mastership must exceed it. */
  promisedTerm: number
  incarnation: number
  /**
   * Twin rule W5 (twin.ts): set by a run that started without stored state on a key it did not create, until it
   * has learned its earlier runs' claims; the next run then cannot trust `incarnation` as their bound either.
   */
  historyUnknown?: true
  /** Members last known, dialed on restart to rejoin (Serf's snapshot). */
  peers: Array<{ id: string; peer: PeerKey; addrs: string[] }>
}

export type Effect =
  /** Make `state` durable before carrying out the effects that follow it. */
  | { type: 'persist'; state: StoredState }
  /**
   * Send one message to one peer (direct protocol). `addrs` helps the shell dial a peer it is not connected to.
   * `reconnect`: the message crosses what may have been a partition (a probe of a member held gone, this node's
   * return from the dead), so a connection to the peer that has been silent is not to be trusted with it: the shell
   * opens a new one (TCP backs off its retransmissions through a partition; src/net/shell.ts STALL_MS).
   */
  | { type: 'send'; to: PeerKey; addrs: string[]; msg: Message; reconnect?: true }
  /** Publish one message to every member reachable on the broadcast channel. */
  | { type: 'broadcast'; msg: Message }
  | { type: 'emit'; event: CoreEvent }

/** Inputs from the shell that are neither messages nor ticks. */
export type Observation =
  /** A transport connection to a peer opened (after discovery or an inbound dial). */
  | { type: 'peer-connected'; peer: PeerKey; addrs: string[] }
  /** A transport connection closed: a hint to probe now, never a verdict. */
  | { type: 'peer-disconnected'; peer: PeerKey }
  /**
   * A send to this peer failed (dial or write). `refused`: the peer's host answered that nothing listens there
   * (ECONNREFUSED): evidence that the process is gone, and that this node's network works (probes.ts, M1). A dial
   * that timed out proves neither.
   */
  | { type: 'send-failed'; peer: PeerKey; refused?: boolean }

export type QuorumMode = 'majority' | 'none'

export interface CoreConfig {
  id: string
  peer: PeerKey
  addrs: string[]
  quorum: QuorumMode
  /**
   * Cold start (no stored state): bootstrap a new cluster once this many members (self included) were seen;
   * with 1 (the default), after `discoveryWindowMs` instead, unless an existing cluster answered first.
   */
  expect: number
  /** How long a node without stored state listens for an existing cluster before the lowest id bootstraps one. */
  discoveryWindowMs: number
  /** At most this many members vote (grant leases); the others are members without a vote. */
  voters: number
  /** A voter dead this long is replaced by a live non-voter (or dropped when none is left) by the master. */
  voterDeadAfterMs: number
  probeIntervalMs: number
  probeTimeoutMs: number
  /** Extra time given to indirect probes after the direct one timed out. */
  indirectTimeoutMs: number
  indirectChecks: number
  /** Suspicion timeout bounds: min = suspicionMinMs * max(1, log10(n)); max = min * suspicionMaxMult. */
  suspicionMinMs: number
  suspicionMaxMult: number
  /** Lifeguard local health: probe interval and timeouts scale by (1 + score), score capped here. */
  maxHealthScore: number
  /** Piggybacked updates are retransmitted retransmitMult * ceil(log10(n + 1)) times. */
  retransmitMult: number
  maxPiggyback: number
  syncIntervalMs: number
  /** How often one dead member is probed again, so healed partitions merge. */
  deadProbeIntervalMs: number
  /** Dead members are dropped from the member list (and, by a master, the voter config) after this long. */
  reapAfterMs: number
  leaseDurationMs: number
  leaseRenewMs: number
  /** Fraction of the lease the holder gives up to bounded clock-rate drift. */
  clockDrift: number
  /** A lower id that joined or came back takes the master role only after being alive this long. */
  stabilityWindowMs: number
  /**
   * The wall clock (ms since the epoch) when the core was created: only used to stamp a new cluster id with its
   * birth time, so that of two clusters that meet the older survives (lineage.ts C3). Time otherwise comes in `now`.
   */
  wallClockAtStart?: number
  /** What this node stored in a previous run (data dir); absent for a new node or a wiped data dir. */
  stored?: StoredState
  tags?: Record<string, string>
  /** This process's boot nonce (twin.ts); the agent passes one with a random part, else it is derived from the clock. */
  boot?: string
  /** The node key was created by this process (twin.ts W4: no previous run of it can exist). */
  newKey?: boolean
}

export interface MasterView {
  id: string
  term: number
}

export interface QuorumView {
  has: boolean
  visible: number
  voting: number
  needed: number
}

export type Role = 'master' | 'voter' | 'member'

export interface CoreStatus {
  id: string
  clusterId: string | null
  role: Role
  peer: PeerKey
  incarnation: number
  isMaster: boolean
  term: number
  maxTerm: number
  master: MasterView | null
  quorum: QuorumView
  config: VoterConfig | null
  healthScore: number
  /** F1 (membership.ts): declared dead or suspected too often within a minute, this node stays out until well. */
  flapping: boolean
  members: Member[]
  left: boolean
}
