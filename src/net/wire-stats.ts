// Byte accounting by libp2p protocol, for the idle-cost benchmark (docs/bench-runtime.md): where an agent's wire
// bytes go. It is libp2p's `metrics` component, the hook libp2p itself offers: every connection's bytes below
// the encryption (trackMultiaddrConnection: what the socket carries, i.e. noise frames holding yamux frames,
// multistream-select included) and every protocol stream's payload (trackProtocolStream). Each chunk a stream
// writes is one yamux frame, so the write count gives the framing overhead per protocol.
// Off unless CONCLAVE_WIRE_STATS=1: the wrappers add a generator step per chunk, which is not worth paying in
// production for a breakdown the benchmark needs.
import type { ComponentLogger, Connection, Metrics, MultiaddrConnection, Stream } from '@libp2p/interface'
import { Counter, type Registry } from 'prom-client'
import type { Uint8ArrayList } from 'uint8arraylist'

type Source = AsyncIterable<Uint8Array | Uint8ArrayList> | Iterable<Uint8Array | Uint8ArrayList>

export function wireStatsEnabled(): boolean {
  return process.env.CONCLAVE_WIRE_STATS === '1'
}

/** A libp2p Metrics component that counts bytes and chunks per protocol and per connection into `registry`. */
export function wireStats(registry: Registry): (components: { logger: ComponentLogger }) => Metrics {
  const bytes = new Counter({
    name: 'conclave_wire_stream_bytes_total',
    help: 'Payload bytes of libp2p protocol streams (inside yamux), by protocol and direction (CONCLAVE_WIRE_STATS=1 only)',
    labelNames: ['protocol', 'direction'],
    registers: [registry],
  })
  const chunks = new Counter({
    name: 'conclave_wire_stream_chunks_total',
    help: 'Chunks (yamux data frames) of libp2p protocol streams, by protocol and direction (CONCLAVE_WIRE_STATS=1 only)',
    labelNames: ['protocol', 'direction'],
    registers: [registry],
  })
  const streams = new Counter({
    name: 'conclave_wire_streams_total',
    help: 'libp2p protocol streams opened, by protocol and direction (CONCLAVE_WIRE_STATS=1 only)',
    labelNames: ['protocol', 'direction'],
    registers: [registry],
  })
  const connBytes = new Counter({
    name: 'conclave_wire_connection_bytes_total',
    help: 'Bytes of all libp2p connections as the socket carries them (noise, yamux, multistream-select included; TCP/IP headers not), by direction (CONCLAVE_WIRE_STATS=1 only)',
    labelNames: ['direction'],
    registers: [registry],
  })
  const connChunks = new Counter({
    name: 'conclave_wire_connection_chunks_total',
    help: 'Socket reads and writes of all libp2p connections, by direction (CONCLAVE_WIRE_STATS=1 only)',
    labelNames: ['direction'],
    registers: [registry],
  })

  const count = async function* (source: Source, each: (n: number) => void) {
    for await (const c of source) {
      each(c.byteLength)
      yield c
    }
  }
  const wrap = <T extends { source: AsyncIterable<any>; sink: (s: any) => unknown }>(d: T, onIn: (n: number) => void, onOut: (n: number) => void) => {
    const source = d.source
    const sink = d.sink
    d.source = count(source, onIn) as T['source']
    d.sink = ((s: Source) => sink(count(s, onOut))) as T['sink']
  }

  const noop = () => {}
  const metric = { update: noop, increment: noop, decrement: noop, reset: noop, timer: () => noop, observe: noop }
  const register = ((_name: string, options?: { calculate?: unknown }) => (options?.calculate ? undefined : metric)) as any

  return () => ({
    trackMultiaddrConnection(maConn: MultiaddrConnection) {
      wrap(
        maConn,
        (n) => {
          connBytes.inc({ direction: 'in' }, n)
          connChunks.inc({ direction: 'in' })
        },
        (n) => {
          connBytes.inc({ direction: 'out' }, n)
          connChunks.inc({ direction: 'out' })
        },
      )
    },
    trackProtocolStream(stream: Stream, _connection: Connection) {
      const protocol = stream.protocol ?? 'unknown'
      streams.inc({ protocol, direction: stream.direction })
      wrap(
        stream,
        (n) => {
          bytes.inc({ protocol, direction: 'in' }, n)
          chunks.inc({ protocol, direction: 'in' })
        },
        (n) => {
          bytes.inc({ protocol, direction: 'out' }, n)
          chunks.inc({ protocol, direction: 'out' })
        },
      )
    },
    registerMetric: register,
    registerMetricGroup: register,
    registerCounter: register,
    registerCounterGroup: register,
    registerHistogram: register,
    registerHistogramGroup: register,
    registerSummary: register,
    registerSummaryGroup: register,
    createTrace: () => undefined,
    traceFunction: (_name: string, fn: any) => fn,
  }) as unknown as Metrics
}
