// Prometheus metrics of one agent. Gauges that mirror core state are computed at scrape time.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { CoreEvent, CoreStatus, MemberState } from '../core/types.ts'

const states: MemberState[] = ['alive', 'suspect', 'dead', 'left']

export interface AgentMetrics {
  registry: Registry
  messagesSent: Counter<'type' | 'channel'>
  bytesSent: Counter<'type' | 'channel'>
  messagesReceived: Counter<'type' | 'channel'>
  bytesReceived: Counter<'type' | 'channel'>
  badMessages: Counter<'reason'>
  sendFailures: Counter<'cause'>
  sendDropped: Counter
  streamsOpened: Counter
  stalledRedials: Counter
  persistFailures: Counter
  /** Count one core event. */
  onEvent(event: CoreEvent): void
}

/** Resolution of the event-loop delay histogram behind nodejs_eventloop_lag_* (see createMetrics). */
export const EVENT_LOOP_SAMPLE_MS = 100

export function createMetrics(status: () => CoreStatus | null): AgentMetrics {
  const registry = new Registry()
  // prom-client samples the event loop's delay with a 10 ms libuv timer by default: 100 wake-ups a second, most of
  // what an idle agent cost (a lone agent: 1.6 % of a core, 234 epoll waits a second). At 100 ms a stall of 100 ms or
  // more still always shows in nodejs_eventloop_lag_* (a probe times out at 400 ms).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
  const reg = [registry]

  new Gauge({
    name: 'conclave_members',
    help: 'Members in this agent’s view, by state (self included)',
    labelNames: ['state'],
    registers: reg,
    collect() {
      const s = status()
      for (const st of states) this.set({ state: st }, s ? s.members.filter((m) => m.state === st).length : 0)
    },
  })
  new Gauge({
    name: 'conclave_is_master',
    help: '1 while this agent is master',
    registers: reg,
    collect() {
      this.set(status()?.isMaster ? 1 : 0)
    },
  })
  new Gauge({
    name: 'conclave_term',
    help: 'Term of the master this agent recognises (0 when none)',
    registers: reg,
    collect() {
      this.set(status()?.master?.term ?? 0)
    },
  })
  new Gauge({
    name: 'conclave_max_term',
    help: 'Highest term this agent has seen',
    registers: reg,
    collect() {
      this.set(status()?.maxTerm ?? 0)
    },
  })
  new Gauge({
    name: 'conclave_incarnation',
    help: 'This agent’s own incarnation number',
    registers: reg,
    collect() {
      this.set(status()?.incarnation ?? 0)
    },
  })
  new Gauge({
    name: 'conclave_quorum',
    help: 'Quorum arithmetic in this agent’s view',
    labelNames: ['kind'],
    registers: reg,
    collect() {
      const q = status()?.quorum
      this.set({ kind: 'has' }, q?.has ? 1 : 0)
      this.set({ kind: 'visible' }, q?.visible ?? 0)
      this.set({ kind: 'voting' }, q?.voting ?? 0)
      this.set({ kind: 'needed' }, q?.needed ?? 0)
    },
  })
  new Gauge({
    name: 'conclave_health_score',
    help: 'Lifeguard local health score (0 = healthy)',
    registers: reg,
    collect() {
      this.set(status()?.healthScore ?? 0)
    },
  })

  const probes = new Counter({ name: 'conclave_probes_total', help: 'Completed probes by result and kind', labelNames: ['result', 'kind'], registers: reg })
  const suspicions = new Counter({ name: 'conclave_suspicions_total', help: 'Suspicions raised or learned', registers: reg })
  const refutations = new Counter({ name: 'conclave_refutations_total', help: 'Times this agent refuted a suspicion of itself', registers: reg })
  const masterChanges = new Counter({ name: 'conclave_master_changes_total', help: 'Changes of the recognised master', registers: reg })
  const transitions = new Counter({ name: 'conclave_member_transitions_total', help: 'Member state changes seen, by new state', labelNames: ['state'], registers: reg })
  const idConflicts = new Counter({ name: 'conclave_id_conflicts_total', help: 'Id conflicts detected', registers: reg })
  const lineage = new Counter({
    name: 'conclave_cluster_changes_total',
    help: 'This agent bootstrapped, joined, merged into or recovered a cluster, by kind',
    labelNames: ['kind'],
    registers: reg,
  })
  const configChanges = new Counter({ name: 'conclave_voter_config_changes_total', help: 'Voter configurations adopted', registers: reg })
  new Gauge({
    name: 'conclave_voters',
    help: 'Voters in the voter configuration this agent holds',
    registers: reg,
    collect() {
      this.set(status()?.config?.voters.length ?? 0)
    },
  })

  const metrics: AgentMetrics = {
    registry,
    messagesSent: new Counter({ name: 'conclave_messages_sent_total', help: 'Protocol messages sent, by type and channel', labelNames: ['type', 'channel'], registers: reg }),
    bytesSent: new Counter({ name: 'conclave_bytes_sent_total', help: 'Encoded protocol bytes sent, by type and channel', labelNames: ['type', 'channel'], registers: reg }),
    messagesReceived: new Counter({ name: 'conclave_messages_received_total', help: 'Protocol messages received, by type and channel', labelNames: ['type', 'channel'], registers: reg }),
    bytesReceived: new Counter({ name: 'conclave_bytes_received_total', help: 'Encoded protocol bytes received, by type and channel', labelNames: ['type', 'channel'], registers: reg }),
    badMessages: new Counter({ name: 'conclave_bad_messages_dropped_total', help: 'Received messages dropped as invalid, by reason', labelNames: ['reason'], registers: reg }),
    sendFailures: new Counter({ name: 'conclave_send_failures_total', help: 'Direct sends that failed, by cause', labelNames: ['cause'], registers: reg }),
    streamsOpened: new Counter({ name: 'conclave_direct_streams_opened_total', help: 'Outbound direct-protocol streams opened (one per peer unless connections break)', registers: reg }),
    stalledRedials: new Counter({ name: 'conclave_stalled_redials_total', help: 'New connections forced for a message that crosses what may have been a partition (a probe of a member held gone, a return from the dead) while the connections to the peer were silent, or a ping unanswered, for 1 s (src/net/shell.ts STALL_MS); dials that fail are counted too', registers: reg }),
    persistFailures: new Counter({ name: 'conclave_state_write_failures_total', help: 'State file writes that failed (the step’s messages were dropped)', registers: reg }),
    sendDropped: new Counter({ name: 'conclave_send_queue_dropped_total', help: 'Direct messages dropped because a peer’s send queue was full', registers: reg }),
    onEvent(e) {
      switch (e.type) {
        case 'probe':
          probes.inc({ result: e.ok ? 'ok' : 'failed', kind: e.indirect ? 'indirect' : 'direct' })
          break
        case 'suspicion':
          suspicions.inc()
          break
        case 'refuted':
          refutations.inc()
          break
        case 'master-changed':
          masterChanges.inc()
          break
        case 'member-state':
          transitions.inc({ state: e.member.state })
          break
        case 'member-joined':
          transitions.inc({ state: e.member.state })
          break
        case 'id-conflict':
          idConflicts.inc()
          break
        case 'cluster-born':
          lineage.inc({ kind: 'born' })
          break
        case 'cluster-joined':
          lineage.inc({ kind: e.reason })
          break
        case 'config-changed':
          configChanges.inc()
          break
      }
    },
  }
  // Make the bad-message reasons visible at 0 before the first one happens.
  for (const reason of ['too-big', 'undecodable', 'schema']) metrics.badMessages.inc({ reason }, 0)
  for (const kind of ['born', 'joined', 'merged', 'recovered']) lineage.inc({ kind }, 0)
  return metrics
}
