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
}

export interface Member extends MemberUpdate {
  /** Local time of the last state change in this node's view. */
  since: number
  /** Local time this member last became alive (from new/dead/left); the stability window counts from here. */
  aliveSince: number
}

/** The voter configuration: which members' lease grants count. Changed one member at a time by a master. */
export interface VoterConfig {
  version: number
  /** Term of the master that wrote this version (0 for the bootstrap config). */
  term: number
  voters: string[]
}

/** Wire messages of the protocol. Direct ones go to one peer; `updates` rides the broadcast channel (gossipsub). */
export type Message =
  | { t: 'ping'; seq: number; from: string; gossip: MemberUpdate[] }
  | { t: 'ack'; seq: number; from: string; gossip: MemberUpdate[] }
  | { t: 'nack'; seq: number; from: string }
  | { t: 'ping-req'; seq: number; from: string; target: string; targetPeer: PeerKey }
  | { t: 'sync'; from: string; reply: boolean; members: MemberUpdate[]; config: VoterConfig | null; maxTerm: number }
  | { t: 'updates'; from: string; updates: MemberUpdate[] }
  | {
      t: 'lease-req'
      from: string
      seq: number
      term: number
      /** true when the sender currently holds a majority (a master announcing itself). */
      master: boolean
      configVersion: number
      /** Sent when a receiver acknowledged an older config version. */
      config?: VoterConfig
    }
  | {
      t: 'lease-ack'
      from: string
      seq: number
      term: number
      granted: boolean
      /** Grant length in ms, measured by the granter from when it granted. */
      durationMs: number
      maxTerm: number
      configVersion: number
      /** When refused: why, and the node this voter grants to instead. */
      reason?: 'not-lowest' | 'bound' | 'stale-term' | 'not-voter' | 'stale-config'
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
  | { type: 'probe'; target: string; ok: boolean; indirect: boolean }
  | { type: 'config-changed'; config: VoterConfig }
  /** Another live node holds this node's id under a different key: the later joiner must stop. */
  | { type: 'id-conflict'; id: string; peer: PeerKey; fatal: boolean }
  | { type: 'left' }

export type Effect =
  /** Send one message to one peer (direct protocol). `addrs` helps the shell dial a peer it is not connected to. */
  | { type: 'send'; to: PeerKey; addrs: string[]; msg: Message }
  /** Publish one message to every member reachable on the broadcast channel. */
  | { type: 'broadcast'; msg: Message }
  | { type: 'emit'; event: CoreEvent }

/** Inputs from the shell that are neither messages nor ticks. */
export type Observation =
  /** A transport connection to a peer opened (after discovery or an inbound dial). */
  | { type: 'peer-connected'; peer: PeerKey; addrs: string[] }
  /** A transport connection closed: a hint to probe now, never a verdict. */
  | { type: 'peer-disconnected'; peer: PeerKey }
  /** A send to this peer failed at once (dial refused, no route). */
  | { type: 'send-failed'; peer: PeerKey }

export type QuorumMode = 'majority' | 'none'

export interface CoreConfig {
  id: string
  peer: PeerKey
  addrs: string[]
  quorum: QuorumMode
  /** Hold any election until this many members (self included) have been seen alive. */
  expect: number
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
  /** The highest term this node saw in a previous run (the shell keeps it in the data dir), so terms never go back. */
  startTerm?: number
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

export interface CoreStatus {
  id: string
  peer: PeerKey
  incarnation: number
  isMaster: boolean
  term: number
  maxTerm: number
  master: MasterView | null
  quorum: QuorumView
  config: VoterConfig | null
  healthScore: number
  members: Member[]
  left: boolean
}
