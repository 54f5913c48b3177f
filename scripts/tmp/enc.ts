import { encode } from '@msgpack/msgpack'
const cluster = 'c-' + 'x'.repeat(20)
const msgs: Record<string, unknown> = {
  ping: { t: 'ping', seq: 123456, from: 'node-3', gossip: [], cluster: '01J9Z3K8Q4W5E6R7T8Y9U0I1O2', master: { id: 'node-1', term: 3, ms: 1764620000000 } },
  leaseReq: { t: 'lease-req', from: 'node-1', seq: 123456, cluster: '01J9Z3K8Q4W5E6R7T8Y9U0I1O2', term: 3, master: true, configVersion: 4 },
  leaseAck: { t: 'lease-ack', from: 'node-2', seq: 123456, cluster: '01J9Z3K8Q4W5E6R7T8Y9U0I1O2', term: 3, granted: true, durationMs: 1200, maxTerm: 3, configVersion: 4 },
}
for (const [k, v] of Object.entries(msgs)) console.log(k, encode(v).byteLength)
void cluster
