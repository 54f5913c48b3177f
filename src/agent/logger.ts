// Structured logs: pino, JSON lines on stderr (stdout stays free for command output).
import { pino, type Logger } from 'pino'
import type { CoreEvent, Member } from '../core/types.ts'

export function createLogger(level: string, id: string): Logger {
  return pino({ level, base: { node: id }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }))
}

const brief = (m: Member) => ({ member: m.id, state: m.state, incarnation: m.incarnation, peer: m.peer })

/** One log line per core event an operator would grep for; chatty events (probes) only at debug. */
export function logEvent(log: Logger, e: CoreEvent): void {
  switch (e.type) {
    case 'member-joined':
      log.info({ event: e.type, ...brief(e.member), addrs: e.member.addrs }, `member ${e.member.id} joined`)
      break
    case 'member-state': {
      const level = e.member.state === 'dead' ? 'warn' : 'info'
      log[level]({ event: e.type, ...brief(e.member), previous: e.previous }, `member ${e.member.id} ${e.previous} -> ${e.member.state}`)
      break
    }
    case 'member-removed':
      log.info({ event: e.type, member: e.id }, `member ${e.id} removed`)
      break
    case 'master-changed':
      log.info({ event: e.type, master: e.master, previous: e.previous }, e.master ? `master is ${e.master.id} (term ${e.master.term})` : 'no master')
      break
    case 'became-master':
      log.info({ event: e.type, term: e.term }, `became master (term ${e.term})`)
      break
    case 'stepped-down':
      log.warn({ event: e.type, term: e.term, reason: e.reason }, `stepped down as master (term ${e.term}): ${e.reason}`)
      break
    case 'suspicion':
      log.info({ event: e.type, member: e.id, by: e.by }, `member ${e.id} suspected by ${e.by}`)
      break
    case 'refuted':
      log.warn({ event: e.type, incarnation: e.incarnation }, `refuted a suspicion of this node (incarnation ${e.incarnation})`)
      break
    case 'probe':
      log.debug({ event: e.type, member: e.target, ok: e.ok, indirect: e.indirect }, `probe ${e.target} ${e.ok ? 'ok' : 'failed'}`)
      break
    case 'config-changed':
      log.info({ event: e.type, config: e.config }, `voter config v${e.config.version}: ${e.config.voters.join(', ')}`)
      break
    case 'id-conflict':
      log[e.fatal ? 'fatal' : 'warn']({ event: e.type, id: e.id, peer: e.peer, fatal: e.fatal }, `node id "${e.id}" is also claimed by ${e.peer}`)
      break
    case 'left':
      log.info({ event: e.type }, 'left the cluster')
      break
    case 'cluster-born':
      log.info({ event: e.type, cluster: e.clusterId, voters: e.voters }, `bootstrapped cluster ${e.clusterId} with voters ${e.voters.join(', ')}`)
      break
    case 'cluster-joined':
      if (e.reason === 'merged') log.warn({ event: e.type, cluster: e.clusterId, from: e.from }, `cluster ${e.from} merged into cluster ${e.clusterId}`)
      else if (e.reason === 'recovered') log.warn({ event: e.type, cluster: e.clusterId }, `cluster ${e.clusterId} recovered with a new voter config`)
      else log.info({ event: e.type, cluster: e.clusterId }, `joined cluster ${e.clusterId}`)
      break
  }
}
