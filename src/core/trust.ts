// The trust rules of the core: what a message must satisfy before any concern of the core sees it. Pure like the
// rest of the core: the signing key and the verification of other members' signatures come in as functions
// (the agent: Ed25519 with the node's libp2p key; the simulator: Ed25519 with keys derived from the seed).
//
// Every message arrives with `fromPeer`, the peer the transport authenticated (libp2p noise on a direct stream;
// the publisher's gossipsub signature on a broadcast). Rules, each counted by name when it drops something:
//
//   R1  impersonation: a message counts only as coming from `fromPeer`. Its `from` must not be an id that a live
//       member holds under another peer, and `fromPeer` must not hold another live id. (A gone id can be taken
//       over by a new key: the member table's merge rules decide that, with a signed claim.) A state exchange is
//       let through to the merge rules, which never give a live member's id to another key: its answer is how a
//       later joiner with a taken id learns to stop.
//   R2  unknown-sender: role messages (lease-ack, lease-release, remove, leave) count only from a member whose
//       peer is `fromPeer`; the election then applies its role rules (L3: only grants of voters in the current
//       config count; a release frees only the grant its sender holds; a remove is acted on only by the master,
//       and only for dead or left members).
//   R3  unsigned / bad-signature: what a member says about itself (alive with its incarnation, addresses and tags;
//       left) is signed by its key, and relayed with that signature (piggybacked gossip, broadcasts, state
//       exchange). An update about member X at incarnation i is accepted only with X's signature of its own claim
//       at i: its alive claim for alive, suspect and dead, its left claim for left. An update without a valid
//       signature is dropped alone; the rest of its message still counts. Exception: a member's own claim sent
//       first-hand on its authenticated connection (`leave`), which is applied but not relayed unsigned.
//   R4  raises-incarnation: a claim about another member (suspect, dead) never raises the subject's incarnation.
//       With signatures this follows from R3 (the subject signed incarnation i itself); without (a core built
//       with no crypto, as in unit tests) a suspect or dead update above the incarnation we hold is dropped.
//   R5  term-jump / incarnation-cap: terms advance by bounded steps. A message carrying a term (master claim,
//       state exchange, lease request/ack/release, voter config) above maxTerm + MAX_TERM_STEP is dropped before
//       it can be observed or persisted; a node with no cluster yet takes terms up to MAX_TERM. Incarnations and
//       config versions are capped likewise.
//   R6  bad-config: a voter config is adopted only if it names no more voters than the cap (or the current
//       config), none twice, and runs at most MAX_CONFIG_VERSION_STEP versions ahead. A relayed config (state
//       exchange, ack) names only members this node knows (or that the same state exchange brings). A bad config is removed from its message; the rest of
//       the message counts. In a lease request, a config (and a master announcement) counts only from the node
//       this one would make master (election.ts onLeaseRequest).
//   R7  forged-claim: what a master says is signed by it and relayed with that signature. A master claim relayed on
//       a probe (ping/ack `master`) carries the named master's signature of (lineage, id, term); a master signs its
//       own claim, and hands the signature to its voters with its lease requests so they can relay it. A voter
//       config carries its writer (`by`: the master that proposed it, the bootstrapping or the recovering node)
//       and the writer's signature of (lineage, version, term, voters); a relayed config (state exchange, ack)
//       that would replace ours needs it (a node without a config yet takes an unsigned one: whoever answers a
//       joiner first is trusted for its cluster anyway). A claim or config without a valid signature is removed
//       from its message (the rest counts). So a key holder cannot name another member master, nor put a config in
//       another member's mouth. Terms: a term above ours counts from a master claim only when the claim is signed
//       by the master it names, and from a lease-ack only when its sender is a voter of our config (a non-voter's
//       ack carries no term that matters: its maxTerm is capped at ours); a state exchange's maxTerm counts only
//       from a voter or as merge news (that part needs the lineage: election.ts onSync). Still open: a key holder
//       may claim itself master, or write configs as itself (docs/security.md; the fix is quorum certificates).
//
// What a member that holds the cluster key can still do is written down in docs/security.md.

import { encode } from '@msgpack/msgpack'
import type { Ctx } from './context.ts'
import { compareConfigs } from './voters.ts'
import type { MemberUpdate, Message, PeerKey, VoterConfig } from './types.ts'

/** Signing and verification, injected (the core does no I/O and holds no key material of its own). */
export interface TrustCrypto {
  /** Sign with this node's own key. */
  sign(data: Uint8Array): Uint8Array
  /** Whether `sig` is `peer`'s signature of `data` (false for a peer whose key cannot be known). */
  verify(peer: PeerKey, data: Uint8Array, sig: Uint8Array): boolean
}

export type TrustRule =
  | 'impersonation'
  | 'unknown-sender'
  | 'unsigned'
  | 'bad-signature'
  | 'raises-incarnation'
  | 'term-jump'
  | 'incarnation-cap'
  | 'bad-config'
  | 'forged-claim'
  /**
   * A master claim without its signature that this node holds no signature for. Not a forgery by itself: a sender
   * leaves the signature out toward a peer that relayed the claim to it, and a peer that restarted meanwhile has
   * forgotten it (peerHolds). The claim is not taken, as a forged one is not; only the log level differs.
   */
  | 'unverified-claim'

export const trustRules: readonly TrustRule[] = [
  'impersonation',
  'unknown-sender',
  'unsigned',
  'bad-signature',
  'raises-incarnation',
  'term-jump',
  'incarnation-cap',
  'bad-config',
  'forged-claim',
  'unverified-claim',
]

export interface TrustOptions {
  /** Without it, R3 is off (R4 then guards incarnations on its own); every other rule applies. */
  crypto?: TrustCrypto
  /** Told of every drop (the agent counts them in /metrics and logs the first per peer and rule). */
  dropped?(rule: TrustRule, fromPeer: PeerKey, detail: string): void
}

/**
 * R5: how far above the highest term heard a new term may be. Recovery jumps 1000 above every known term and an
 * amnesiac voter 100 (election.ts); ten recoveries' worth leaves room for those and for a lineage merge with an
 * older cluster, while 2^53 (the attack in issue 9) is refused.
 */
export const MAX_TERM_STEP = 10_000
/** R5: terms, config versions and incarnations stay far below 2^53 so that +1 and +1000 never lose precision. */
export const MAX_TERM = 2 ** 40
export const MAX_INCARNATION = 2 ** 40
/** R5: a config version may run this far ahead of ours (recovery raises it by 1000). */
export const MAX_CONFIG_VERSION_STEP = 10_000
/** Verified claims kept for relaying; the oldest are forgotten first (a member's newest claim is re-learned by gossip). */
const MAX_CLAIMS = 16_384
/** R7: verified master claims kept for relaying (one per master and term; only a few are current at any time). */
const MAX_MASTER_CLAIMS = 256

type Kind = 'alive' | 'left'

type ClaimFields = Pick<MemberUpdate, 'id' | 'peer' | 'incarnation' | 'addrs' | 'tags' | 'boot'>

/**
 * A member's own claim: the signed part of an update. Tags are sorted so the encoding is canonical. The boot nonce
 * (twin.ts W1) is signed with the rest, so only the key's holder can set it; a claim without one (none are made
 * now) keeps the older encoding.
 */
export function claimBytes(u: ClaimFields, kind: Kind): Uint8Array {
  const tags = u.tags ? Object.keys(u.tags).sort().map((k) => [k, u.tags![k]]) : []
  const body: unknown[] = ['conclave-claim/1', kind, u.id, u.peer, u.incarnation, u.addrs, tags]
  if (u.boot !== undefined) body.push(u.boot)
  return encode(body)
}

/** R7: what a master signs when it claims the role: its lineage, id and term (not the remaining time, which relays lower). */
export function masterClaimBytes(cluster: string | null | undefined, id: string, term: number): Uint8Array {
  return encode(['conclave-master/1', cluster ?? null, id, term])
}

/** R7: what the writer of a voter config signs. */
export function configBytes(cluster: string | null | undefined, cfg: VoterConfig): Uint8Array {
  return encode(['conclave-config/1', cluster ?? null, cfg.version, cfg.term, cfg.voters, cfg.by ?? null])
}

function configKey(cluster: string | null | undefined, cfg: VoterConfig): string {
  return JSON.stringify([cluster ?? null, cfg.version, cfg.term, cfg.voters, cfg.by ?? null])
}

function kindOf(state: MemberUpdate['state']): Kind {
  return state === 'left' ? 'left' : 'alive'
}

function claimKey(u: ClaimFields, kind: Kind): string {
  return JSON.stringify([kind, u.id, u.peer, u.incarnation, u.addrs, u.tags ? Object.keys(u.tags).sort().map((k) => [k, u.tags![k]]) : [], u.boot ?? null])
}

function withoutSig(u: MemberUpdate): MemberUpdate {
  if (!('sig' in u)) return u
  const { sig: _sig, ...rest } = u as MemberUpdate & { sig?: Uint8Array }
  void _sig
  return rest
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** The messages' update lists, for the filter and for signing at egress. */
function updateLists(msg: Message): MemberUpdate[][] {
  switch (msg.t) {
    case 'ping':
    case 'ack':
      return [msg.gossip]
    case 'sync':
      return [msg.members]
    case 'updates':
      return [msg.updates]
    default:
      return []
  }
}

/** Terms a message carries (R5). */
function termsOf(msg: Message): number[] {
  switch (msg.t) {
    case 'ping':
    case 'ack':
      return msg.master ? [msg.master.term] : []
    case 'sync':
      return [msg.maxTerm, ...(msg.config ? [msg.config.term] : [])]
    case 'lease-req':
      return [msg.term, ...(msg.config ? [msg.config.term] : [])]
    case 'lease-ack':
      return [msg.term, msg.maxTerm, ...(msg.config ? [msg.config.term] : [])]
    case 'lease-release':
      return [msg.term]
    default:
      return []
  }
}

function configOf(msg: Message): VoterConfig | null | undefined {
  return msg.t === 'sync' || msg.t === 'lease-req' || msg.t === 'lease-ack' ? msg.config : undefined
}

export interface TrustView {
  maxTerm: number
  inCluster: boolean
  config: VoterConfig | null
}

export class Trust {
  /** Verified own claims of other members, by claimKey: what we relay them with. */
  private readonly claims = new Map<string, Uint8Array>()
  /** Our own signatures, by claimKey (a claim is signed once however often it is sent). */
  private readonly own = new Map<string, Uint8Array>()
  /** Set while a first-hand claim (R3's exception) is being applied: the peer that sent it. */
  private firstHand: PeerKey | null = null
  /** R7: verified master claims' signatures, by lineage|id|term: what this node relays them with. */
  private readonly masterSigs = new Map<string, Uint8Array>()
  /** R7: this node's own signatures of its master claims and of the configs it wrote. */
  private readonly ownSigs = new Map<string, Uint8Array>()
  /**
   * Master claims (lineage|id|term) each peer has shown it holds the signature of, by relaying the claim to us since
   * its connection came up: probes to it carry those claims without the 64-byte signature (70 of a probe's 163
   * bytes, ~280 B/s of an idle agent's wire at 10 agents). Kept with the peer's boot nonce (twin.ts) and forgotten
   * when its connection drops or comes up: a restarted peer has forgotten the signatures, and its new boot shows in
   * its own alive claim, which it gossips before anything of ours could need the signature.
   */
  private readonly peerHolds = new Map<PeerKey, { boot: string | undefined; keys: string[] }>()

  constructor(
    private readonly ctx: Ctx,
    private readonly opts: TrustOptions = {},
  ) {}

  get signing(): boolean {
    return this.opts.crypto !== undefined
  }

  private drop(rule: TrustRule, fromPeer: PeerKey, detail: string): void {
    this.opts.dropped?.(rule, fromPeer, detail)
  }

  /**
   * The acceptance filter (R1, R2, R5, R6 and the message-level part of R3): null when the whole message is
   * dropped, else the message with its unacceptable updates removed.
   */
  accept(fromPeer: PeerKey, received: Message, view: TrustView): Message | null {
    let msg = received
    const ctx = this.ctx
    if (fromPeer === ctx.self.peer) return null
    // R1. A state exchange is the exception: the member table's merge rules (an id held by a live key is not
    // taken over) and the election's own peer check apply to it, and its answer is how a later joiner with a
    // taken id learns that it must stop (DESIGN: the later joiner must not silently win).
    const claimed = ctx.members.get(msg.from)
    if (msg.t !== 'sync') {
      if (claimed && claimed.peer !== fromPeer && ctx.isLive(claimed)) {
        this.drop('impersonation', fromPeer, `${msg.t} says it is from ${msg.from}, which is held by another key`)
        return null
      }
      const holder = ctx.memberOfPeer(fromPeer)
      if (holder && holder.id !== msg.from && ctx.isLive(holder)) {
        this.drop('impersonation', fromPeer, `${msg.t} from the key of ${holder.id} says it is from ${msg.from}`)
        return null
      }
    }
    // R2
    if (msg.t === 'lease-ack' || msg.t === 'lease-release' || msg.t === 'remove' || msg.t === 'leave') {
      if (!claimed || claimed.peer !== fromPeer) {
        this.drop('unknown-sender', fromPeer, `${msg.t} from ${msg.from}, not a member under this key`)
        return null
      }
    }
    // R5: terms
    const termCap = view.inCluster ? Math.min(MAX_TERM, view.maxTerm + MAX_TERM_STEP) : MAX_TERM
    for (const t of termsOf(msg)) {
      if (t > termCap) {
        this.drop('term-jump', fromPeer, `${msg.t} from ${msg.from} carries term ${t}, above the bound ${termCap} (highest term heard ${view.maxTerm})`)
        return null
      }
    }
    msg = this.checkClaims(fromPeer, msg, view)
    if (msg.t === 'leave') {
      if (msg.incarnation > MAX_INCARNATION) {
        this.drop('incarnation-cap', fromPeer, `leave at incarnation ${msg.incarnation}`)
        return null
      }
      // The leaver signs its left claim, so that those who hear it first-hand can relay it (R3).
      const sig = (msg as typeof msg & { sig?: Uint8Array }).sig
      const m = claimed!
      const u = { id: m.id, peer: m.peer, incarnation: msg.incarnation, addrs: m.addrs, tags: m.tags, boot: m.boot }
      if (sig && this.opts.crypto?.verify(m.peer, claimBytes(u, 'left'), sig)) this.remember(claimKey(u, 'left'), sig)
    }
    // R3/R4 per update
    const lists = updateLists(msg)
    if (lists.length === 0) return this.checkConfig(fromPeer, msg, view)
    // Signatures are checked here and not kept on the member table (the claims map holds them for relaying).
    const kept = lists[0].filter((u) => this.acceptUpdate(fromPeer, msg.from, u)).map(withoutSig)
    switch (msg.t) {
      case 'ping':
      case 'ack':
        return { ...msg, gossip: kept }
      case 'sync':
        return this.checkConfig(fromPeer, { ...msg, members: kept }, view)
      case 'updates':
        return { ...msg, updates: kept }
      default:
        return msg
    }
  }

  /** R6: a bad config is taken out of its message (the rest still counts: a lease request is still answered). */
  private checkConfig(fromPeer: PeerKey, msg: Message, view: TrustView): Message {
    const cfg = configOf(msg)
    if (!cfg) return msg
    // Members the message itself brings count as known (a state exchange is merged before its config is read).
    const known = new Set(msg.t === 'sync' ? msg.members.map((u) => u.id) : [])
    const relayed = msg.t !== 'lease-req'
    let problem = this.configProblem(cfg, view, relayed, known)
    let rule: TrustRule = 'bad-config'
    // R7: a relayed config that would replace ours needs its writer's signature (a lease request is first-hand).
    if (!problem && relayed && view.config !== null && compareConfigs(cfg, view.config) > 0) {
      const cluster = msg.t === 'sync' || msg.t === 'lease-ack' ? msg.cluster : null
      problem = this.configSignatureProblem(cfg, cluster, msg.t === 'sync' ? msg.members : [])
      if (problem) rule = 'forged-claim'
    }
    if (!problem) return msg
    this.drop(rule, fromPeer, `${msg.t} from ${msg.from}: ${problem}`)
    if (msg.t === 'sync') return { ...msg, config: null }
    if (msg.t === 'lease-req' || msg.t === 'lease-ack') {
      const { config: _c, ...rest } = msg
      void _c
      return rest
    }
    return msg
  }

  /**
   * R7 for master claims and terms: a relayed master claim needs the named master's signature; a master's own
   * lease request may bring that signature (remembered for relaying); a lease-ack's maxTerm counts only from a voter.
   */
  private checkClaims(fromPeer: PeerKey, msg: Message, view: TrustView): Message {
    const crypto = this.opts.crypto
    if ((msg.t === 'ping' || msg.t === 'ack') && msg.master && crypto) {
      const c = msg.master
      const key = `${msg.cluster ?? ''}|${c.id}|${c.term}`
      const known = this.masterSigs.get(key) ?? this.ownSigs.get('m|' + key)
      const subject = this.ctx.members.get(c.id)
      // Without its signature a claim counts only if we hold that signature already (a sender leaves it out only
      // for a peer that relayed the claim to it: peerHolds).
      const ok =
        c.sig === undefined
          ? known !== undefined
          : (known !== undefined && sameBytes(known, c.sig)) || (subject !== undefined && crypto.verify(subject.peer, masterClaimBytes(msg.cluster, c.id, c.term), c.sig))
      if (!ok) {
        if (c.sig === undefined) this.drop('unverified-claim', fromPeer, `${msg.t} from ${msg.from} relays a master claim for ${c.id} at term ${c.term} without its signature, which this node does not hold`)
        else this.drop('forged-claim', fromPeer, `${msg.t} from ${msg.from} relays a master claim for ${c.id} at term ${c.term} not signed by ${c.id}`)
        const { master: _m, ...rest } = msg
        void _m
        return rest
      }
      if (!known) this.rememberMaster(key, c.sig!)
      const boot = this.ctx.memberOfPeer(fromPeer)?.boot
      const held = this.peerHolds.get(fromPeer)
      const keys = held && held.boot === boot ? held.keys.filter((k) => k !== key) : []
      this.peerHolds.set(fromPeer, { boot, keys: [key, ...keys].slice(0, 4) })
      if (this.peerHolds.size > 4096) this.peerHolds.delete(this.peerHolds.keys().next().value!)
      const { sig: _s, ...claim } = c
      void _s
      return { ...msg, master: claim }
    }
    if (msg.t === 'lease-req' && msg.sig) {
      // The master's own claim, first-hand: remembered so that this voter can relay it on its probes.
      if (msg.master && crypto?.verify(fromPeer, masterClaimBytes(msg.cluster, msg.from, msg.term), msg.sig)) this.rememberMaster(`${msg.cluster}|${msg.from}|${msg.term}`, msg.sig)
      const { sig: _s, ...rest } = msg
      void _s
      return rest
    }
    if (msg.t === 'lease-ack' && msg.maxTerm > view.maxTerm && view.config !== null && !view.config.voters.includes(msg.from)) {
      // A term above ours counts from a voter's ack only: a non-voter promised nothing that a campaign must exceed.
      this.drop('forged-claim', fromPeer, `lease-ack from ${msg.from}, not a voter, carries term ${msg.maxTerm} above ours (${view.maxTerm}); not taken`)
      return { ...msg, maxTerm: view.maxTerm }
    }
    return msg
  }

  private rememberMaster(key: string, sig: Uint8Array): void {
    if (this.masterSigs.size >= MAX_MASTER_CLAIMS) this.masterSigs.delete(this.masterSigs.keys().next().value!)
    this.masterSigs.set(key, sig)
  }

  /** R7: a relayed config that would replace ours is signed by the member it names as its writer. */
  private configSignatureProblem(cfg: VoterConfig, cluster: string | null | undefined, bringing: MemberUpdate[]): string | null {
    const crypto = this.opts.crypto
    if (!crypto) return null
    if (cfg.by === undefined || cfg.sig === undefined) return `config v${cfg.version} carries no writer's signature`
    const own = this.ownSigs.get('c|' + configKey(cluster, cfg))
    if (own && sameBytes(own, cfg.sig)) return null
    const writer = this.ctx.members.get(cfg.by)?.peer ?? bringing.find((u) => u.id === cfg.by)?.peer
    if (writer === undefined) return `config v${cfg.version} names writer "${cfg.by}", not a member this node knows`
    if (!crypto.verify(writer, configBytes(cluster, cfg), cfg.sig)) return `config v${cfg.version} is not signed by its writer ${cfg.by}`
    return null
  }

  private configProblem(cfg: VoterConfig, view: TrustView, relayed: boolean, known: Set<string>): string | null {
    const cur = view.config
    if (cur && cfg.version > cur.version + MAX_CONFIG_VERSION_STEP) return `config version ${cfg.version} far above ours (${cur.version})`
    if (cfg.version > MAX_TERM) return `config version ${cfg.version} above the cap`
    // A config this node would not adopt changes nothing. The order is V3's (voters.ts), not the version alone: a
    // config of our version with a higher term (or a later voter list) is adopted, so it must pass the checks below
    // too (sim hostile seed 12: twelve fake voters at our version and a higher term were taken unchecked).
    if (cur && compareConfigs(cfg, cur) <= 0) return null
    const cap = Math.max(this.ctx.config.voters, cur?.voters.length ?? 0)
    if (cfg.voters.length > cap) return `config names ${cfg.voters.length} voters, more than the cap of ${cap}`
    if (new Set(cfg.voters).size !== cfg.voters.length) return 'config names a voter twice'
    // A relayed config (state exchange, a voter's ack) may name only members we know: a real voter is in the
    // sender's member list, which is merged first; a made-up one is not.
    const unknown = relayed && cur !== null ? cfg.voters.find((v) => !this.ctx.members.has(v) && !known.has(v)) : undefined
    if (unknown !== undefined) return `config names "${unknown}", not a member this node knows`
    return null
  }

  /** R3/R4 for one update. Verified claims are remembered, so a claim is verified once however often it is relayed. */
  private acceptUpdate(fromPeer: PeerKey, fromId: string, u: MemberUpdate): boolean {
    if (u.incarnation > MAX_INCARNATION) {
      this.drop('incarnation-cap', fromPeer, `update about ${u.id} at incarnation ${u.incarnation}`)
      return false
    }
    const crypto = this.opts.crypto
    if (!crypto) {
      // R4 without signatures: an accusation never raises the subject's incarnation.
      if (u.state === 'suspect' || u.state === 'dead') {
        // Not about ourselves: a claim about us above our incarnation is a previous run's, and we refute it
        // (the cap above keeps the refutation's +1 exact).
        const m = this.ctx.members.get(u.id)
        if (m && m !== this.ctx.self && m.peer === u.peer && u.incarnation > m.incarnation) {
          this.drop('raises-incarnation', fromPeer, `${u.state} about ${u.id} at incarnation ${u.incarnation}, above its own ${m.incarnation}`)
          return false
        }
      }
      return true
    }
    const kind = kindOf(u.state)
    const key = claimKey(u, kind)
    const sig = (u as MemberUpdate & { sig?: Uint8Array }).sig
    if (!sig) {
      this.drop('unsigned', fromPeer, `${u.state} about ${u.id} at incarnation ${u.incarnation} from ${fromId} carries no signature of ${u.id}`)
      return false
    }
    const known = this.claims.get(key) ?? this.own.get(key)
    if (known && sameBytes(known, sig)) return true
    if (!crypto.verify(u.peer, claimBytes(u, kind), sig)) {
      this.drop('bad-signature', fromPeer, `${u.state} about ${u.id} at incarnation ${u.incarnation} from ${fromId}: not signed by ${u.id}'s key`)
      return false
    }
    this.remember(key, sig)
    return true
  }

  private remember(key: string, sig: Uint8Array): void {
    if (this.claims.size >= MAX_CLAIMS) this.claims.delete(this.claims.keys().next().value!)
    this.claims.set(key, sig)
  }

  /** Our signature of our own claim, made once per claim. */
  private signOwn(u: ClaimFields, kind: Kind): Uint8Array {
    const key = claimKey(u, kind)
    let sig = this.own.get(key)
    if (!sig) {
      sig = this.opts.crypto!.sign(claimBytes(u, kind))
      if (this.own.size >= 64) this.own.delete(this.own.keys().next().value!)
      this.own.set(key, sig)
    }
    return sig
  }

  private peerHoldsClaim(peer: PeerKey, key: string): boolean {
    const held = this.peerHolds.get(peer)
    return held !== undefined && held.boot === this.ctx.memberOfPeer(peer)?.boot && held.keys.includes(key)
  }

  /** A peer's connection dropped or came up: it may have restarted and forgotten what it held (peerHolds). */
  connectionChanged(peer: PeerKey): void {
    this.peerHolds.delete(peer)
  }

  /** R7 at egress: sign our own master claims and configs, attach the master's signature to relayed claims. */
  private sealClaims(msg: Message, to: PeerKey | undefined): Message {
    const self = this.ctx.self
    const own = (key: string, bytes: () => Uint8Array): Uint8Array => {
      let sig = this.ownSigs.get(key)
      if (!sig) {
        sig = this.opts.crypto!.sign(bytes())
        if (this.ownSigs.size >= 64) this.ownSigs.delete(this.ownSigs.keys().next().value!)
        this.ownSigs.set(key, sig)
      }
      return sig
    }
    const sealConfig = (cluster: string | null | undefined, cfg: VoterConfig): VoterConfig =>
      cfg.by === self.id && cfg.sig === undefined ? { ...cfg, sig: own('c|' + configKey(cluster, cfg), () => configBytes(cluster, cfg)) } : cfg
    switch (msg.t) {
      case 'ping':
      case 'ack': {
        if (!msg.master) return msg
        const c = msg.master
        const key = `${msg.cluster ?? ''}|${c.id}|${c.term}`
        const sig = c.id === self.id ? own('m|' + key, () => masterClaimBytes(msg.cluster, c.id, c.term)) : this.masterSigs.get(key)
        if (sig && to !== undefined && this.peerHoldsClaim(to, key)) return msg
        if (sig) return { ...msg, master: { ...c, sig } }
        // A claim we hold no signature for is not relayed (its receivers would drop it, R7).
        const { master: _m, ...rest } = msg
        void _m
        return rest
      }
      case 'lease-req': {
        const out = msg.config ? { ...msg, config: sealConfig(msg.cluster, msg.config) } : { ...msg }
        // A voter that relayed this claim to us holds its signature already (peerHolds): every 400 ms it would be 70 B again.
        const key = `${msg.cluster}|${self.id}|${msg.term}`
        if (msg.master && !(to !== undefined && this.peerHoldsClaim(to, key))) out.sig = own('m|' + key, () => masterClaimBytes(msg.cluster, self.id, msg.term))
        return out
      }
      case 'lease-ack':
      case 'sync':
        return msg.config ? { ...msg, config: sealConfig(msg.cluster, msg.config) } : msg
      default:
        return msg
    }
  }

  /** R3's exception: run `apply` for a member's first-hand claim about itself (a `leave` on its own connection). */
  firstHandClaim(fromPeer: PeerKey, apply: () => void): void {
    this.firstHand = fromPeer
    try {
      apply()
    } finally {
      this.firstHand = null
    }
  }

  /**
   * At the entry of Membership.merge: whether an update may be applied. Everything that came through accept() was
   * checked there; what the core merges on its own (a `leave` turned into a left update) is first-hand or known.
   */
  mayMerge(u: MemberUpdate): boolean {
    if (!this.signing) return true
    if (this.firstHand !== null && u.peer === this.firstHand) return true
    const key = claimKey(u, kindOf(u.state))
    return this.claims.has(key) || this.own.has(key)
  }

  /**
   * At egress (ClusterCore.finish): sign this node's own claims and attach the subject's signature to every
   * relayed update; an update we hold no signature for is not sent (its receivers would drop it, R3).
   */
  sealOutgoing(sent: Message, to?: PeerKey): Message {
    const crypto = this.opts.crypto
    if (!crypto) return sent
    const msg = this.sealClaims(sent, to)
    if (msg.t === 'leave') {
      const self = this.ctx.self
      return { ...msg, sig: this.signOwn({ id: self.id, peer: self.peer, incarnation: msg.incarnation, addrs: self.addrs, tags: self.tags, boot: self.boot }, 'left') } as Message
    }
    const lists = updateLists(msg)
    if (lists.length === 0) return msg
    const sealed: MemberUpdate[] = []
    for (const u of lists[0]) {
      const kind = kindOf(u.state)
      const key = claimKey(u, kind)
      let sig: Uint8Array | undefined
      if (u.peer === this.ctx.self.peer && u.id === this.ctx.self.id) sig = this.signOwn(u, kind)
      else sig = this.claims.get(key)
      if (sig) sealed.push({ ...u, sig } as MemberUpdate)
    }
    switch (msg.t) {
      case 'ping':
      case 'ack':
        return { ...msg, gossip: sealed }
      case 'sync':
        return { ...msg, members: sealed }
      case 'updates':
        return { ...msg, updates: sealed }
      default:
        return msg
    }
  }
}
