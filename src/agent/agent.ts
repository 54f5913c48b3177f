// Assembles one agent: configuration, libp2p shell, protocol core, HTTP API and plugins.
// The core decides; this file only carries out its effects and feeds it time, messages and observations.
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import { buildApi, isoFromMonotonic, listenApi } from '../api/server.ts'
import type { AgentConfig } from '../config/schema.ts'
import { protocolDefaults } from '../core/defaults.ts'
import { ClusterCore, TICK_MAX_GAP_MS, TICK_MIN_GAP_MS, tickDelay, type Seed } from '../core/node.ts'
import { bootNonce } from '../core/twin.ts'
import type { CoreConfig, CoreEvent, Effect } from '../core/types.ts'
import { loadOrCreateKey } from '../net/key.ts'
import { Net } from '../net/shell.ts'
import { DataDirLock } from './datadir-lock.ts'
import { setUpSecurity } from '../security/agent-security.ts'
import { libp2pTrust } from '../security/ed25519.ts'
import { createLogger, logEvent } from './logger.ts'
import { createMetrics } from './metrics.ts'
import { StateFile } from './state.ts'
import type { Agent, AgentEvents, AgentPlugin, StatusView, StopResult } from './types.ts'

export interface AgentOptions {
  config: AgentConfig
  plugins?: AgentPlugin[]
  /** Defaults to a pino logger on stderr at config.logLevel. */
  logger?: Logger
  /** The config file `config` was read from, shown by GET /v1/info. */
  configFile?: string
  /** Randomness for the core (probe order, gossip targets); defaults to Math.random. */
  rng?: () => number
}

/** Time given to the leave broadcast and direct messages to leave the process before libp2p stops. */
const LEAVE_FLUSH_MS = 300

const now = () => performance.now()

export async function createAgent(options: AgentOptions): Promise<Agent> {
  const { config } = options
  const plugins = options.plugins ?? []
  const log = options.logger ?? createLogger(config.logLevel, config.id, config.logFormat)
  let core: ClusterCore | null = null
  const metrics = createMetrics(() => core?.status(now()) ?? null)
  // Refuses to start, before any socket opens, on mDNS without a key or an exposed API without a token.
  const security = setUpSecurity(config, log, metrics.registry)
  // One process per data dir (node key, journal, state): a second one stops here with exit code 2.
  const lock = DataDirLock.acquire(config.dataDir, (stale) => log.warn({ dataDir: config.dataDir, stale }, `took over the stale data dir lock of ${stale}`))
  const { key, created } = await loadOrCreateKey(config.dataDir)

  // What is on disk is checked before any port opens: a damaged state file or task journal stops the agent (exit 2)
  // before it has joined anything, not after it briefly took part in the cluster.
  const state = new StateFile(config.dataDir)
  let stored: ReturnType<StateFile['read']>
  try {
    stored = state.read()
    for (const p of plugins) p.prepare?.(config.dataDir)
  } catch (e) {
    lock.release()
    throw e
  }
  const net = await Net.create({
    privateKey: key,
    listen: config.listen,
    bootstrap: config.bootstrap,
    mdns: config.mdns,
    logger: log,
    metrics,
    ...(security.connectionProtector ? { connectionProtector: security.connectionProtector } : {}),
    onPeerLimit: (peer) => security.onPeerLimit(peer),
    probeIntervalMs: config.probeIntervalMs,
  })
  await net.start()

  const peerId = net.peerId
  const protocolKeys = Object.keys(protocolDefaults) as (keyof typeof protocolDefaults)[]
  const coreConfig = {
    ...(Object.fromEntries(protocolKeys.map((k) => [k, config[k]])) as typeof protocolDefaults),
    id: config.id,
    peer: peerId,
    addrs: net.addrs(),
    tags: config.tags,
    wallClockAtStart: Date.now(),
    // Twin rule W1 (core/twin.ts): this process's boot nonce, told apart from a copy of this data dir run elsewhere.
    boot: bootNonce(Date.now(), randomBytes(8).toString('hex')),
    newKey: created,
    ...(stored ? { stored } : {}),
  } satisfies CoreConfig
  // Members sign their own claims with their libp2p key and verify the others' (core/trust.ts R3).
  const c = new ClusterCore(coreConfig, options.rng ?? Math.random, now(), security.trust(libp2pTrust(key)))
  core = c

  const events = new EventEmitter<AgentEvents>()
  let stopping: Promise<void> | null = null
  let resolveStopped!: (r: StopResult) => void
  const stopped = new Promise<StopResult>((r) => (resolveStopped = r))
  // The core's ticks: a timer to its next deadline (core/node.ts tickDelay), planned again after every input.
  let ticker: NodeJS.Timeout | undefined
  let tickerAt = Infinity
  let lastTickAt = -Infinity

  const onEvent = (e: CoreEvent) => {
    logEvent(log, e)
    metrics.onEvent(e)
    events.emit('event', e)
    if (e.type === 'member-joined' || e.type === 'member-state' || e.type === 'member-removed') events.emit('member', e)
    if (e.type === 'master-changed') events.emit('master', e)
    if (e.type === 'id-conflict' && e.fatal) {
      // Another live node holds our id: stop without a leave message (it would mark the rightful holder as left).
      const reason = e.twin
        ? `another process runs with this node's key (peer ${e.peer}, node id "${e.id}", at ${e.twin.addrs.join(' ') || 'no address'}): ` +
          `one of the two data dirs is a copy of the other, and this agent (data dir ${config.dataDir}) stops. Give the copy ` +
          `its own identity: start it with an empty --data-dir (or remove node.key and state.json from it) and another --id`
        : `node id "${e.id}" is already held by live member ${e.peer}`
      void shutdown({ code: 2, reason }, false)
    }
  }

  /**
   * Carry out one step's effects in order. A persist effect is completed (fsynced) before anything after it; if
   * it fails, the step's messages are dropped (as if lost on the wire) rather than sent ahead of their promise.
   */
  const run = (effects: Effect[]) => {
    let durable = true
    for (const e of effects) {
      if (e.type === 'persist') {
        try {
          state.write(e.state)
        } catch (err) {
          durable = false
          metrics.persistFailures.inc()
          log.error({ err: (err as Error).message, path: state.path }, 'cannot write the state file: this step\'s messages are dropped')
        }
      } else if (e.type === 'send') {
        if (durable) net.send(e.to, e.addrs, e.msg, e.reconnect === true)
      } else if (e.type === 'broadcast') {
        if (durable) net.broadcast(e.msg)
      } else onEvent(e.event)
    }
  }

  /** Core calls are guarded: a bug in one input is logged, it must not kill the agent's other duties. */
  const drive = (what: string, f: () => Effect[]) => {
    if (stopping) return
    try {
      let effects: Effect[]
      try {
        effects = f()
      } catch (e) {
        log.error({ err: e, input: what }, `core failed on ${what}`)
        return
      }
      run(effects)
    } finally {
      // Whatever happened, the next tick is planned: nothing else would wake the core if no input came.
      planTick()
    }
  }

  /** The core's next deadline; a core that fails to name one is ticked at the schedule's floor (tickDelay). */
  const dueAt = (t: number): number => {
    try {
      return c.nextTickAt(t)
    } catch (e) {
      log.error({ err: e }, 'core failed on nextTickAt')
      return Infinity
    }
  }

  const planTick = () => {
    if (stopping) return
    const t = now()
    const at = t + tickDelay(t, dueAt(t), lastTickAt)
    if (ticker !== undefined && tickerAt <= at) return
    clearTimeout(ticker)
    tickerAt = at
    // Whole milliseconds, rounded up: a timer counts from the event loop's cached time, so it can fire a little early.
    ticker = setTimeout(onTick, Math.ceil(at - t))
  }

  const onTick = () => {
    ticker = undefined
    tickerAt = Infinity
    const t = now()
    const due = dueAt(t)
    // Fired a few ms before the deadline it was set for: wait for it rather than tick for nothing and be 50 ms late.
    if (due > t && due - t < TICK_MIN_GAP_MS && t < lastTickAt + TICK_MAX_GAP_MS) {
      tickerAt = due
      ticker = setTimeout(onTick, Math.ceil(due - t))
      return
    }
    lastTickAt = t
    drive('tick', () => c.tick(t))
    net.queryLan(() => c.discoveryDuty(), now())
  }

  const status = (): StatusView => {
    const s = c.status(now())
    return {
      id: s.id,
      peerId: s.peer,
      addrs: net.addrs(),
      clusterId: s.clusterId,
      role: s.role,
      voters: s.config ? [...s.config.voters] : [],
      master: s.master ? { id: s.master.id, term: s.master.term } : null,
      quorum: { has: s.quorum.has, visible: s.quorum.visible, voting: s.quorum.voting, needed: s.quorum.needed },
      members: s.members.map((m) => ({
        id: m.id,
        peerId: m.peer,
        state: m.state,
        incarnation: m.incarnation,
        addrs: m.addrs,
        since: isoFromMonotonic(m.since),
        voter: s.config?.voters.includes(m.id) ?? false,
        tags: m.tags ?? {},
      })),
      keyed: security.keyed,
    }
  }

  const shutdown = (result: StopResult, leave: boolean): Promise<void> => {
    if (stopping) return stopping
    stopping = (async () => {
      if (leave) {
        try {
          run(c.leave(now()))
        } catch (e) {
          log.error({ err: e }, 'core failed on leave')
        }
        await new Promise((r) => setTimeout(r, LEAVE_FLUSH_MS))
      }
      clearTimeout(ticker)
      try {
        state.write(c.stored())
      } catch (err) {
        log.warn({ err: (err as Error).message, path: state.path }, 'cannot write the state file on stop')
      }
      for (const p of [...plugins].reverse()) {
        try {
          await p.stop?.()
        } catch (e) {
          log.error({ plugin: p.name, err: e }, 'plugin failed to stop')
        }
      }
      await app.close().catch(() => {})
      await net.stop().catch((e: Error) => log.warn({ err: e.message }, 'libp2p stop failed'))
      log.info({ code: result.code }, result.reason ?? (leave ? 'left and stopped' : 'stopped'))
      lock.release()
      events.emit('stopped', result)
      resolveStopped(result)
    })()
    return stopping
  }

  const agent: Agent = {
    id: config.id,
    peerId,
    config,
    dataDir: config.dataDir,
    configFile: options.configFile ?? null,
    logger: log,
    metrics: metrics.registry,
    events,
    net,
    addrs: () => net.addrs(),
    status,
    coreStatus: () => c.status(now()),
    isMaster: () => c.isMaster(now()),
    master: () => c.master(now()),
    member: (id) => c.member(id),
    memberByPeer: (peer) => c.memberByPeer(peer),
    now,
    remove(id) {
      if (stopping) return { ok: false, error: 'agent is stopping' }
      const res = c.remove(id, now())
      if (!res.ok) return res
      run(res.effects)
      planTick()
      return { ok: true }
    },
    recover(voters) {
      if (stopping) return { ok: false, error: 'agent is stopping' }
      const res = c.recover(voters, now())
      if (!res.ok) return res
      log.warn({ voters }, `recovery: the voters are now ${voters.join(', ')}`)
      run(res.effects)
      planTick()
      return { ok: true }
    },
    reload(next) {
      return reload(next)
    },
    leave: () => shutdown({ code: 0 }, true),
    stop: () => shutdown({ code: 0 }, false),
    stopped,
  }

  /** SIGHUP: apply what can change live; say what needs a restart. The caller validated `next`. */
  let current = config
  function reload(next: AgentConfig): string[] {
    const notes: string[] = []
    for (const k of RESTART_ONLY) {
      if (JSON.stringify(next[k]) !== JSON.stringify(current[k])) notes.push(`${k} changed: takes effect after a restart`)
    }
    if (next.logLevel !== current.logLevel) log.level = next.logLevel
    notes.push(...security.reload(next))
    const live = Object.fromEntries(LIVE_TUNABLES.map((k) => [k, next[k]])) as Partial<CoreConfig>
    c.reconfigure(live)
    planTick()
    for (const p of plugins) {
      try {
        p.reload?.(next)
      } catch (e) {
        notes.push(`plugin ${p.name}: ${(e as Error).message} (kept its old config)`)
      }
    }
    current = { ...next, ...Object.fromEntries(RESTART_ONLY.map((k) => [k, current[k]])) }
    return notes
  }

  const app = buildApi(agent, plugins, { token: () => security.token, refused: (reason) => security.metrics.apiRefused.inc({ reason }) })
  try {
    await listenApi(app, config.api)
  } catch (e) {
    await net.stop().catch(() => {})
    lock.release()
    throw e
  }

  log.info(
    { peer: peerId, addrs: coreConfig.addrs, api: config.api, dataDir: config.dataDir, newKey: created, keyed: security.keyed, clusterKeys: security.ring?.keys.map((k) => k.id) ?? [], apiToken: security.token !== null },
    `agent ${config.id} listening${security.keyed ? ` (cluster key ${security.ring!.dialKey.id})` : ' (no cluster key: an open cluster)'}`,
  )
  net.attach({
    message: (from, msg) => drive(`receive ${msg.t}`, () => c.receive(from, msg, now())),
    observe: (obs) => drive(`observe ${obs.type}`, () => c.observe(obs, now())),
  })
  // drive() plans the first tick.
  drive('start', () => c.start(seedsOf(config.bootstrap), now()))

  for (const p of plugins) {
    try {
      await p.start(agent)
    } catch (e) {
      log.error({ plugin: p.name, err: e }, 'plugin failed to start')
      await shutdown({ code: 2, reason: `plugin ${p.name} failed to start: ${(e as Error).message}` }, true)
      break
    }
  }
  return agent
}

/** Settings that need a restart (identity, sockets, the safety mode, the lease timing voters rely on). */
const RESTART_ONLY = ['id', 'listen', 'api', 'dataDir', 'mdns', 'bootstrap', 'quorum', 'leaseDurationMs', 'leaseRenewMs', 'clockDrift', 'expect'] as const
/** Protocol tunables a running core takes at once (each is read where it is used). */
const LIVE_TUNABLES = [
  'probeIntervalMs', 'probeTimeoutMs', 'indirectTimeoutMs', 'indirectChecks', 'suspicionMinMs', 'suspicionMaxMult',
  'maxHealthScore', 'retransmitMult', 'maxPiggyback', 'syncIntervalMs', 'deadProbeIntervalMs', 'reapAfterMs',
  'stabilityWindowMs', 'discoveryWindowMs', 'voters', 'voterDeadAfterMs',
] as const

/** Bootstrap addresses whose peer id is known become seeds of the core; the others are dialed by the shell. */
function seedsOf(bootstrap: string[]): Seed[] {
  const byPeer = new Map<string, string[]>()
  for (const a of bootstrap) {
    const peer = multiaddr(a).getPeerId()
    if (peer) byPeer.set(peer, [...(byPeer.get(peer) ?? []), a])
  }
  return [...byPeer].map(([peer, addrs]) => ({ peer, addrs }))
}
