// Tools to play a hostile peer and a careless client against real agents on 127.0.0.1: a libp2p node of its own
// (fresh key) that floods the agent's protocols, HTTP floods, and the measurements (API latency, CPU, RSS, what
// the agent refused, false deaths and master changes seen by honest agents). Every flood is bounded in count
// and time. Shared by test/limits/floods.test.ts and scripts/bench/floods.ts.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { encode } from '@msgpack/msgpack'
import { lpStream } from 'it-length-prefixed-stream'
import { buildNode, type Node } from '../../src/net/node.ts'
import { DIRECT_PROTOCOL } from '../../src/net/shell.ts'
import { TASK_PROTOCOL } from '../../src/tasks/wire.ts'
import type { AgentProc } from '../integration/harness.ts'

export { DIRECT_PROTOCOL, TASK_PROTOCOL }

/** A libp2p node with a fresh key, on 127.0.0.1, no mDNS, no bootstrap: the hostile peer. */
export async function hostilePeer(): Promise<Node> {
  const node = await buildNode({ privateKey: await generateKeyPair('Ed25519'), listen: '/ip4/127.0.0.1/tcp/0', bootstrapWithPeerId: [], mdns: false })
  await node.start()
  return node
}

/** Dial the agent and return its peer id (for dialProtocol). */
export async function dialAgent(h: Node, a: AgentProc): Promise<ReturnType<typeof peerIdFromString>> {
  const st = await a.status()
  if (!st) throw new Error(`${a.id} does not answer`)
  const peer = peerIdFromString(st.peerId)
  await h.dial(multiaddr(`/ip4/127.0.0.1/tcp/${a.spec.p2pPort}/p2p/${st.peerId}`), { signal: AbortSignal.timeout(5_000) })
  return peer
}

/** A 4 KiB membership frame that is nothing but 4,000 empty maps (the CPU flood). */
export function emptyMapsFrame(): Uint8Array {
  return encode({ t: 'ping', seq: 1, from: 'x', gossip: Array.from({ length: 4000 }, () => ({})) })
}

/** A valid, harmless membership message (a nack for a probe nobody sent). */
export function nackFrame(i: number): Uint8Array {
  return encode({ t: 'nack', seq: 1_000_000 + i, from: 'flooder' })
}

/**
 * Write `frame` (length-prefixed), at most `count` frames within `ms`, paced to `perSecond` (default: as fast as
 * the stream takes them). When the agent drops the stream, the flood ends, or with `reopen` goes on over a new
 * stream (a persistent flooder); `streams` counts the streams used.
 */
export async function floodFrames(
  h: Node,
  peer: ReturnType<typeof peerIdFromString>,
  protocol: string,
  frame: (i: number) => Uint8Array,
  count: number,
  ms: number,
  perSecond = Infinity,
  reopen = false,
): Promise<{ sent: number; ms: number; streams: number }> {
  const started = performance.now()
  let sent = 0
  let streams = 0
  while (sent < count && performance.now() - started < ms) {
    let stream
    try {
      stream = await h.dialProtocol(peer, protocol, { signal: AbortSignal.timeout(5_000) })
    } catch {
      break
    }
    streams++
    const lp = lpStream(stream)
    try {
      while (sent < count && performance.now() - started < ms) {
        // Batches of 16 frames per write, as a fast sender would.
        const batch = Array.from({ length: Math.min(16, count - sent) }, (_, k) => frame(sent + k))
        await lp.writeV(batch, { signal: AbortSignal.timeout(2_000) })
        sent += batch.length
        const ahead = sent / perSecond - (performance.now() - started) / 1000
        if (ahead > 0) await new Promise((r) => setTimeout(r, ahead * 1000))
        // Let this process's other work (event watchers) run between batches.
        else if (sent % 256 === 0) await new Promise((r) => setImmediate(r))
      }
    } catch {
      // the agent dropped the stream
    }
    stream.abort(new Error('flood over'))
    if (!reopen) break
    await new Promise((r) => setTimeout(r, 10))
  }
  return { sent, ms: performance.now() - started, streams }
}

/**
 * 20 streams, each with one bad length prefix: 5 overlong varints, 5 lengths beyond 64 KiB (100,000), 5 that announce
 * 1,000 bytes and send 10, 5 that end inside the prefix. The agent must count every one.
 */
export async function badLengthPrefixes(h: Node, peer: ReturnType<typeof peerIdFromString>): Promise<number> {
  const varint = encodeVarint
  const variants: Uint8Array[] = [
    ...Array.from({ length: 5 }, () => new Uint8Array(12).fill(0xff)),
    ...Array.from({ length: 5 }, () => Uint8Array.from([...varint(100_000), 1, 2, 3])),
    ...Array.from({ length: 5 }, () => Uint8Array.from([...varint(1000), ...new Uint8Array(10)])),
    ...Array.from({ length: 5 }, () => Uint8Array.from([0x80])),
  ]
  for (const bytes of variants) {
    const stream = await h.dialProtocol(peer, DIRECT_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
    await stream.sink([bytes]).catch(() => {})
    await stream.close().catch(() => stream.abort(new Error('done')))
  }
  return variants.length
}

export function encodeVarint(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/**
 * `streams` task request streams, each announcing `announce` bytes and sending `send` of them, then held open
 * for `holdMs` (a slow sender: the 62 partial 4 MiB requests). Returns how many streams took all it sent.
 */
export async function partialTaskRequests(h: Node, peer: ReturnType<typeof peerIdFromString>, streams: number, announce: number, send: number, holdMs: number, during?: () => Promise<void>): Promise<{ accepted: number }> {
  const open = await Promise.all(
    Array.from({ length: streams }, async () => {
      try {
        const stream = await h.dialProtocol(peer, TASK_PROTOCOL, { signal: AbortSignal.timeout(5_000) })
        const body = new Uint8Array(send)
        let ok = true
        // A sink that sends the prefix and the partial body, then waits (without ending) for the hold period.
        let release!: () => void
        const held = new Promise<void>((r) => (release = r))
        const sink = stream
          .sink(
            (async function* () {
              yield Uint8Array.from(encodeVarint(announce))
              for (let i = 0; i < send; i += 64 * 1024) yield body.subarray(i, Math.min(send, i + 64 * 1024))
              await held
            })(),
          )
          .catch(() => {
            ok = false
          })
        return { stream, sink, release, ok: () => ok }
      } catch {
        return null
      }
    }),
  )
  await new Promise((r) => setTimeout(r, holdMs))
  if (during) await during()
  const accepted = open.filter((s) => s !== null && s.ok() && s.stream.status === 'open').length
  for (const s of open) {
    if (!s) continue
    s.release()
    s.stream.abort(new Error('flood over'))
  }
  return { accepted }
}

/**
 * GET /v1/status every `everyMs` from a separate process (so a flood generated by this process cannot delay the
 * probe itself); latencies in ms, a failed request counts as its 5 s timeout.
 */
export class LatencyProbe {
  private child: ChildProcess | null = null
  private out = ''

  constructor(
    private readonly apiPort: number,
    private readonly everyMs = 100,
  ) {}

  start(): this {
    const code = `
      let stop = false
      process.stdin.on('data', () => { stop = true }).on('end', () => { stop = true })
      ;(async () => {
        while (!stop) {
          const t = performance.now()
          let ok = true
          try {
            const res = await fetch('http://127.0.0.1:${this.apiPort}/v1/status', { signal: AbortSignal.timeout(5000) })
            await res.arrayBuffer()
            ok = res.ok
          } catch { ok = false }
          process.stdout.write((ok ? '' : '!') + (performance.now() - t).toFixed(2) + '\\n')
          await new Promise((r) => setTimeout(r, ${this.everyMs}))
        }
        process.exit(0)
      })()`
    this.child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d))
    return this
  }

  async stop(): Promise<{ n: number; p50: number; p99: number; max: number; failures: number }> {
    const child = this.child!
    const exited = new Promise((r) => child.once('exit', r))
    child.stdin!.end('stop\n')
    await exited
    const lines = this.out.split('\n').filter(Boolean)
    const failures = lines.filter((l) => l.startsWith('!')).length
    const s = lines.map((l) => Number(l.replace('!', ''))).sort((a, b) => a - b)
    const q = (p: number) => (s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(p * s.length))])
    return { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] ?? 0, failures }
  }
}

/** The events an honest agent publishes on /v1/events, read continuously. */
export class EventWatch {
  readonly events: Array<{ type: string; member?: { id: string; state: string }; master?: unknown }> = []
  private readonly ac = new AbortController()
  private readonly done: Promise<void>

  constructor(readonly agent: AgentProc) {
    this.done = (async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${agent.spec.apiPort}/v1/events`, { signal: this.ac.signal })
        const reader = res.body!.getReader()
        const dec = new TextDecoder()
        let buf = ''
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          buf += dec.decode(value, { stream: true })
          let i
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i)
            buf = buf.slice(i + 2)
            const data = block.split('\n').find((l) => l.startsWith('data: '))
            if (data) this.events.push(JSON.parse(data.slice(6)))
          }
        }
      } catch {
        // closed
      }
    })()
  }

  /** Member states other than alive and master changes: what a flood must not cause among honest agents. */
  alarms(honest: string[]): string[] {
    return this.events
      .filter((e) => (e.type === 'member-state' && honest.includes(e.member!.id) && e.member!.state !== 'alive') || e.type === 'master-changed' || e.type === 'suspicion')
      .map((e) => `${this.agent.id}: ${JSON.stringify(e)}`)
  }

  async close(): Promise<void> {
    this.ac.abort()
    await this.done
  }
}

/** CPU time (user + system) of a process in seconds, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

/** Resident memory of a process in MB. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : 0
}

/** Sum of a Prometheus counter's samples whose labels contain `labels` (all of them when empty). */
export function counter(text: string, name: string, labels = ''): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== '{' && rest[0] !== ' ') continue
    if (labels && !rest.includes(labels)) continue
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

/** Run `n` calls of `f`, at most `parallel` at once. */
export async function pool<T>(n: number, parallel: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(parallel, n) }, async () => {
      while (next < n) {
        const i = next++
        out[i] = await f(i)
      }
    }),
  )
  return out
}

/**
 * SSE clients that connect and never read: a raw socket sends the request and leaves whatever arrives in the
 * kernel buffers. Returns the sockets (destroy them when done).
 */
export function sseNonReaders(apiPort: number, n: number, path = '/v1/events'): Array<ReturnType<typeof connect>> {
  return Array.from({ length: n }, () => {
    const s = connect(apiPort, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`))
    s.on('error', () => {})
    s.pause()
    return s
  })
}
