// The agent's security setup, in one place: the cluster key ring and its refusal log, the start-up checks
// (mDNS without a key, an exposed API without a token), the API token, and the core's trust hooks.
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { AgentConfig } from '../config/schema.ts'
import type { TrustOptions, TrustRule } from '../core/trust.ts'
import { trustRules } from '../core/trust.ts'
import { clusterKeyProtector, KeyRing, readKeyFile, type ClusterKeyRefused } from '../net/cluster-key.ts'
import { apiExposureProblem, readTokenFile } from './api-auth.ts'
import { createSecurityMetrics, type SecurityMetrics } from './metrics.ts'

/** A refusal to start for a security reason: printed as one line, exit 2 (the CLI treats ConfigError so). */
export class SecurityConfigError extends Error {
  override name = 'ConfigError'
}

/** Distinct remote addresses and (peer, rule) pairs logged; past this many, refusals are only counted. */
const MAX_LOGGED = 1024

export interface AgentSecurity {
  keyed: boolean
  ring: KeyRing | null
  token: string | null
  metrics: SecurityMetrics
  connectionProtector?: ReturnType<typeof clusterKeyProtector>
  trust(crypto: TrustOptions['crypto']): TrustOptions
  onPeerLimit(peer: string): void
  /** SIGHUP: re-read the key file (rotation without a restart) and the token file; returns notes. */
  reload(next: AgentConfig): string[]
}

function isLoopbackListen(listen: string): boolean {
  return /^\/ip4\/127\.|^\/ip6\/::1\//.test(listen)
}

/** Why this agent must not start as configured, or null (checked before any socket opens). */
export function startProblem(config: AgentConfig, keyed: boolean, hasToken: boolean): string | null {
  if (config.mdns && !keyed && !config.insecure && !isLoopbackListen(config.listen)) {
    return `mDNS discovery on ${config.listen} without a cluster key would let any host on this network join the cluster and become its master; pass --cluster-key-file <file> (make one with \`conclave keygen --out <file>\`), or --insecure to run an open cluster anyway`
  }
  return apiExposureProblem(config.api, hasToken)
}

export function setUpSecurity(config: AgentConfig, log: Logger, registry: Registry): AgentSecurity {
  let ring: KeyRing | null = null
  try {
    if (config.clusterKeyFile) ring = new KeyRing(readKeyFile(config.clusterKeyFile))
  } catch (e) {
    throw new SecurityConfigError((e as Error).message)
  }
  const token = config.apiTokenFile ? readTokenFile(config.apiTokenFile) : null
  const problem = startProblem(config, ring !== null, token !== null)
  if (problem) throw new SecurityConfigError(problem)
  const metrics = createSecurityMetrics(registry, () => ring !== null, () => ring?.keys.length ?? 0)
  for (const rule of trustRules) metrics.untrusted.inc({ rule }, 0)

  const loggedAddrs = new Set<string>()
  const refused = (err: ClusterKeyRefused, remoteAddr: string) => {
    metrics.keyRefused.inc({ reason: err.reason })
    // Once per remote host (the port changes with every connection).
    const host = remoteAddr.replace(/\/tcp\/\d+.*$/, '')
    if (loggedAddrs.has(host) || loggedAddrs.size >= MAX_LOGGED) return
    loggedAddrs.add(host)
    log.warn({ remote: remoteAddr, reason: err.reason }, `refused a connection from ${host}: ${err.message}; further ones from it are only counted (conclave_cluster_key_refused_total)`)
  }
  const loggedDrops = new Set<string>()
  let tokenNow = token
  const sec: AgentSecurity = {
    keyed: ring !== null,
    ring,
    get token() {
      return tokenNow
    },
    metrics,
    ...(ring ? { connectionProtector: clusterKeyProtector(ring, { refused, accepted: (_id, primary) => metrics.keyAccepted.inc({ key: primary ? 'primary' : 'secondary' }) }) } : {}),
    trust(crypto) {
      return {
        ...(crypto ? { crypto } : {}),
        dropped(rule: TrustRule, fromPeer: string, detail: string) {
          metrics.untrusted.inc({ rule })
          const key = `${fromPeer} ${rule}`
          if (loggedDrops.has(key) || loggedDrops.size >= MAX_LOGGED) return
          loggedDrops.add(key)
          // An unverified claim is what an honest peer sends right after this node restarted (trust.ts): not a warning.
          log[rule === 'unverified-claim' ? 'debug' : 'warn']({ peer: fromPeer, rule }, `dropped a message from ${fromPeer} (trust rule ${rule}): ${detail}; further ones are only counted (conclave_untrusted_messages_dropped_total)`)
        },
      }
    },
    onPeerLimit(peer) {
      metrics.peerConnectionLimit.inc()
      log.debug({ peer }, 'refused an inbound connection: the peer already holds the per-peer maximum')
    },
    reload(next) {
      const notes: string[] = []
      if (ring && next.clusterKeyFile) {
        try {
          const keys = readKeyFile(next.clusterKeyFile)
          const before = ring.keys.map((k) => k.id).join(',')
          ring.replace(keys)
          const after = keys.map((k) => k.id).join(',')
          if (before !== after) {
            log.info({ keys: keys.map((k) => k.id) }, `cluster keys reloaded: dialing with ${keys[0].id}, accepting ${after}`)
            notes.push(`cluster keys now ${after} (dialing with ${keys[0].id})`)
          }
        } catch (e) {
          notes.push(`cluster key file refused, keeping the running keys: ${(e as Error).message}`)
        }
      } else if ((ring === null) !== !next.clusterKeyFile) {
        notes.push('clusterKeyFile added or removed: takes effect after a restart')
      }
      if (next.apiTokenFile && next.apiTokenFile === config.apiTokenFile) {
        try {
          tokenNow = readTokenFile(next.apiTokenFile)
        } catch (e) {
          notes.push(`API token file refused, keeping the running token: ${(e as Error).message}`)
        }
      } else if (next.apiTokenFile !== config.apiTokenFile) notes.push('apiTokenFile changed: takes effect after a restart')
      return notes
    },
  }
  return sec
}
