// The public surface of a running agent: what the CLI, the HTTP API and plugins (the task subsystem) code against.
import type { EventEmitter } from 'node:events'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { CoreEvent, CoreStatus, MasterView, Member, PeerKey } from '../core/types.ts'
import type { AgentConfig } from '../config/schema.ts'

/** Handler of a request/response protocol: gets the request bytes and the authenticated remote peer, returns the response. */
export type RequestHandler = (request: Uint8Array, fromPeer: PeerKey) => Promise<Uint8Array> | Uint8Array

export interface RequestOptions {
  /** Whole request (dial + write + read) deadline; default 10 s. */
  timeoutMs?: number
  signal?: AbortSignal
}

/** The libp2p shell as plugins see it. */
export interface AgentNet {
  /** Register a request/response protocol (one request per stream, length-prefixed, max 4 MiB each way). */
  handle(protocol: string, handler: RequestHandler): Promise<void>
  /** Send one request to a peer and wait for its response; dials on demand using `addrs` when not connected. */
  request(peer: PeerKey, addrs: string[], protocol: string, bytes: Uint8Array, options?: RequestOptions): Promise<Uint8Array>
  /** Publish on a gossipsub topic. A lone or partitioned node publishes to nobody without an error. */
  publish(topic: string, bytes: Uint8Array): Promise<void>
  /** Subscribe to a gossipsub topic; returns an unsubscribe function. Own messages are not delivered. */
  subscribe(topic: string, handler: (fromPeer: PeerKey, bytes: Uint8Array) => void): () => void
  /** Peers with an open connection right now. */
  connectedPeers(): PeerKey[]
  /** Connected peers that told us they subscribe to `topic` (a publish reaches these). */
  topicPeers(topic: string): PeerKey[]
}

/** Events on `agent.events`. 'event' carries every core event; 'member' and 'master' are convenience subsets. */
export interface AgentEvents {
  event: [CoreEvent]
  member: [Extract<CoreEvent, { type: 'member-joined' | 'member-state' | 'member-removed' }>]
  master: [Extract<CoreEvent, { type: 'master-changed' }>]
  /** The agent stopped (after leave, stop, or a fatal id conflict). */
  stopped: [StopResult]
}

/** A member as the API shows it: `since` is wall-clock ISO time. */
export interface MemberView {
  id: string
  peerId: string
  state: Member['state']
  incarnation: number
  addrs: string[]
  since: string
  /** Whether this member is in the voter config (its lease grants count). */
  voter: boolean
  tags: Record<string, string>
}

/** Exactly the JSON of GET /v1/status. */
export interface StatusView {
  id: string
  peerId: string
  addrs: string[]
  /** The cluster (lineage) this node belongs to; null before it bootstrapped or joined one. */
  clusterId: string | null
  /** This node's role: master, voter (grants leases) or member (no vote). */
  role: 'master' | 'voter' | 'member'
  voters: string[]
  master: MasterView | null
  quorum: { has: boolean; visible: number; voting: number; needed: number }
  members: MemberView[]
  /** Every connection is protected by the cluster key (--cluster-key-file). */
  keyed: boolean
}

export interface Agent {
  readonly id: string
  readonly peerId: PeerKey
  /** Resolved configuration (flags over file over defaults); `tasks` and `on` are passed through unvalidated. */
  readonly config: AgentConfig
  readonly dataDir: string
  /** The config file the agent was started with (null: flags and defaults only). */
  readonly configFile?: string | null
  readonly logger: Logger
  readonly metrics: Registry
  readonly events: EventEmitter<AgentEvents>
  readonly net: AgentNet
  /** Announced multiaddrs of this agent (with /p2p/<peerId>). */
  addrs(): string[]
  /** The API view of the cluster (GET /v1/status). */
  status(): StatusView
  /** The raw core status (monotonic `since` times), for plugins that need more than the API view. */
  coreStatus(): CoreStatus
  isMaster(): boolean
  master(): MasterView | null
  member(id: string): Member | undefined
  memberByPeer(peer: PeerKey): Member | undefined
  /** Monotonic clock used by the agent (performance.now()). */
  now(): number
  /** Drop a member (dead, or gone for good) so it stops voting; forwarded to the master when needed. */
  remove(id: string): { ok: true } | { ok: false; error: string }
  /** Operator recovery after the majority of the voters is lost for good: the named survivors become the voters. */
  recover(voters: string[]): { ok: true } | { ok: false; error: string }
  /** Apply a re-read config (SIGHUP); returns notes on what needs a restart or was refused. */
  reload(config: AgentConfig): string[]
  /** Leave gracefully (others record `left`), then stop. Resolves when stopped. */
  leave(): Promise<void>
  /** Stop without leaving (others will see this node fail). */
  stop(): Promise<void>
  /** Resolves once the agent has stopped for any reason, with the exit code the process should use. */
  readonly stopped: Promise<StopResult>
}

export interface StopResult {
  /** 0 after leave/stop, 2 after a fatal error such as an id conflict. */
  code: number
  /** One line for the operator when the stop was not requested. */
  reason?: string
}

export interface AgentPlugin {
  name: string
  /**
   * Called at start-up before any socket opens, once the state file was read: open and check what the plugin keeps
   * in the data dir. Throwing stops the agent before it joins anything (exit 2 for the errors the CLI knows).
   */
  prepare?(dataDir: string): void
  /** Called once the agent runs: network, core and HTTP API are up. */
  start(agent: Agent): Promise<void>
  /** Register extra HTTP routes; called before the API listens (before start). */
  routes?(app: FastifyInstance): void
  /** SIGHUP: take the re-read config; throw (with a message naming the field) to keep the old one. */
  reload?(config: AgentConfig): void
  /** Called on leave/stop, before the network stops. */
  stop?(): Promise<void>
  /** Shown under GET /v1/plugins/<name>. */
  status?(): Record<string, unknown>
}
