// The connection monitor (src/net/monitor.ts) pings a connection only after the silence a pair of agents can show in
// a cluster of this size, so an idle cluster of 50 agents does not ping its connections every 10 s.
import { describe, expect, it } from 'vitest'
import { ConnectionMonitor, MONITOR_INTERVAL_MS, silenceMs } from '../../src/net/monitor.ts'

function fakeNode(n: number) {
  const pinged: string[] = []
  const conns = Array.from({ length: n }, (_, i) => ({
    id: `c${i}`,
    status: 'open',
    streams: [],
    remotePeer: { toString: () => `p${i}` },
    timeline: { open: Date.now() },
    newStream: async () => {
      pinged.push(`c${i}`)
      throw new Error('no stream in this test')
    },
    abort: () => {},
  }))
  return { node: { getConnections: () => conns }, pinged }
}

const log = { debug: () => {}, warn: () => {} }

describe('connection monitor', () => {
  it('scales the silence that earns a ping with the number of connections', () => {
    expect(silenceMs(4, 500)).toBe(MONITOR_INTERVAL_MS)
    expect(silenceMs(49, 500)).toBe(24_500)
  })

  for (const [n, quietAt, pingAt] of [[9, 5_000, 10_000], [49, 20_000, 25_000]] as const) {
    it(`with ${n} connections: none pinged after ${quietAt} ms of silence, all after ${pingAt} ms`, () => {
      let now = 0
      const { node, pinged } = fakeNode(n)
      // A fake of the few members of a libp2p node the monitor reads.
      const m = new ConnectionMonitor(node as any, log as any, MONITOR_INTERVAL_MS, 1_000, () => now, 500)
      const check = () => (m as unknown as { check(): void }).check()
      check() // first sight: every connection gets its grace from now
      now = quietAt
      check()
      expect(pinged.length).toBe(0)
      now = pingAt
      check()
      expect(pinged.length).toBe(n)
    })
  }
})
