import { encodeMessage, decodeMessage } from '../../src/core/codec.ts'
import type { Message } from '../../src/core/types.ts'
const msgs: Message[] = [
  { t: 'ping', seq: 123456, from: 'node-3', gossip: [], cluster: '019ad9f1c2a01f3e4b5c', master: { id: 'node-1', term: 3, ms: 1764620000000 } },
  { t: 'lease-req', from: 'node-1', seq: 123456, cluster: '019ad9f1c2a01f3e4b5c', term: 3, master: true, configVersion: 4 },
  { t: 'lease-ack', from: 'node-2', seq: 123456, cluster: '019ad9f1c2a01f3e4b5c', term: 3, granted: true, durationMs: 1200, maxTerm: 3, configVersion: 4 },
  { t: 'updates', from: 'node-2', updates: [{ id: 'node-3', peer: 'p', addrs: ['/ip4/1.2.3.4/tcp/1'], incarnation: 2, state: 'alive', tags: { seq: 'x', s: 'y' }, boot: 'b' }] },
]
for (const m of msgs) {
  const b = encodeMessage(m)
  const d = decodeMessage(b)
  console.log(m.t, b.byteLength, JSON.stringify(d.ok ? d.msg : d) === JSON.stringify(m) ? 'roundtrip ok' : 'MISMATCH ' + JSON.stringify(d))
}
