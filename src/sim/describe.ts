// One-line, human-readable renderings of core events and messages for traces.
import type { CoreEvent, Message } from '../core/types.ts'

export function describeEvent(e: CoreEvent): string {
  switch (e.type) {
    case 'member-joined':
      return `member-joined ${e.member.id} ${e.member.state} inc=${e.member.incarnation}`
    case 'member-state':
      return `member-state ${e.member.id} ${e.previous}->${e.member.state} inc=${e.member.incarnation}${e.member.by ? ` by=${e.member.by}` : ''}`
    case 'member-removed':
      return `member-removed ${e.id}`
    case 'master-changed':
      return `master-changed ${e.previous ? `${e.previous.id}@${e.previous.term}` : 'none'} -> ${e.master ? `${e.master.id}@${e.master.term}` : 'none'}`
    case 'became-master':
      return `became-master term=${e.term}`
    case 'stepped-down':
      return `stepped-down term=${e.term} reason=${e.reason}`
    case 'suspicion':
      return `suspicion ${e.id} by=${e.by}`
    case 'refuted':
      return `refuted inc=${e.incarnation}`
    case 'flapping':
      return `flapping: return held ${e.heldMs}ms`
    case 'readmission-held':
      return `readmission-held ${e.id} until ${e.until}${e.until === 'quiet' ? ` ${e.heldMs}ms` : ''}`
    case 'probe':
      return `probe ${e.target} ${e.ok ? 'ok' : 'failed'}${e.indirect ? ' (indirect)' : ''}`
    case 'config-changed':
      return `config-changed v${e.config.version} term=${e.config.term} voters=${e.config.voters.join(',')}`
    case 'id-conflict':
      return `id-conflict ${e.id} peer=${e.peer}${e.fatal ? ' fatal' : ''}`
    case 'left':
      return 'left'
    case 'cluster-born':
      return `cluster-born ${e.clusterId} voters=${e.voters.join(',')}`
    case 'cluster-joined':
      return `cluster-joined ${e.clusterId} (${e.reason}${e.from ? ` from ${e.from}` : ''})`
    default: {
      const other = e as { type: string }
      return other.type
    }
  }
}

export function describeMessage(m: Message): string {
  switch (m.t) {
    case 'ping':
    case 'ack':
      return `${m.t} seq=${m.seq}${m.gossip.length ? ` gossip=${m.gossip.map((u) => `${u.id}:${u.state}:${u.incarnation}`).join(',')}` : ''}`
    case 'nack':
      return `nack seq=${m.seq}`
    case 'ping-req':
      return `ping-req seq=${m.seq} target=${m.target}`
    case 'sync':
      return `sync${m.reply ? ' reply' : ''} members=${m.members.length} maxTerm=${m.maxTerm} config=${m.config ? `v${m.config.version}` : 'none'}`
    case 'digest':
      return `digest ${m.digest}`
    case 'updates':
      return `updates ${m.updates.map((u) => `${u.id}:${u.state}:${u.incarnation}`).join(',')}`
    case 'lease-req':
      return `lease-req seq=${m.seq} term=${m.term}${m.master ? ' master' : ''} cfg=v${m.configVersion}`
    case 'lease-ack':
      return `lease-ack seq=${m.seq} term=${m.term} ${m.granted ? `granted ${m.durationMs}ms` : `refused ${m.reason ?? ''}${m.holder ? ` holder=${m.holder}` : ''}`} maxTerm=${m.maxTerm}`
    case 'lease-release':
      return `lease-release term=${m.term}`
    case 'leave':
      return `leave inc=${m.incarnation}`
    case 'remove':
      return `remove ${m.id}`
    default: {
      const other = m as { t: string }
      return other.t
    }
  }
}
