// HTTP limits on a real Fastify server on 127.0.0.1: the JSON depth scan, and an SSE client that never reads
// being dropped once it leaves more than its buffer bound unread (its slot is freed).
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import { afterAll, describe, expect, it } from 'vitest'
import { jsonDepthExceeded, registerHttpLimits } from '../../src/api/limits.ts'
import { counter, sseNonReaders } from './flood-tools.ts'

describe('jsonDepthExceeded', () => {
  it('counts only brackets outside strings, escapes included', () => {
    expect(jsonDepthExceeded('[[[]]]', 3)).toBe(-1)
    expect(jsonDepthExceeded('[[[[]]]]', 3)).toBe(3)
    expect(jsonDepthExceeded('{"a":"[[[[[[\\"[[[[","b":[1]}', 2)).toBe(-1)
    expect(jsonDepthExceeded('{"a\\\\":[[1]]}', 2)).toBe(8)
    expect(jsonDepthExceeded('[' + '{"k":['.repeat(20) + ']}'.repeat(20) + ']', 64)).toBe(-1)
  })
})

describe('SSE gate', () => {
  const app = Fastify({ logger: false, forceCloseConnections: true })
  const registry = new Registry()
  const limits = registerHttpLimits(app, registry, { sseClients: 3, sseBufferedBytes: 64 * 1024 })
  let writes = 0
  let dropped = 0
  app.get('/sse', (req, reply) => {
    const sse = limits.openSse(req, reply)
    if (!sse) return reply
    const chunk = `data: ${'x'.repeat(64 * 1024)}\n\n`
    const started = performance.now()
    // Bounded: at most 3 s and 1,000 chunks (64 MB; the kernel's socket buffers take about 10 MB first).
    const t = setInterval(() => {
      if (!sse.write(chunk) || performance.now() - started > 3_000 || ++writes > 1_000) clearInterval(t)
    }, 2)
    sse.whenClosed(() => {
      clearInterval(t)
      dropped++
    })
  })
  app.post('/echo', async (req) => req.body)
  afterAll(() => app.close())

  it('drops a client that never reads, refuses clients beyond the bound with 503, and frees the slot', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 })
    const port = (app.server.address() as AddressInfo).port
    const [stuck] = sseNonReaders(port, 1, '/sse')
    const until = performance.now() + 5_000
    while (dropped === 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 50))
    expect(dropped).toBe(1)
    expect(counter(await registry.metrics(), 'conclave_http_refused_total', 'limit="sse-slow-client"')).toBe(1)
    stuck.destroy()

    // Three slots: the fourth reader is refused.
    const readers = await Promise.all([1, 2, 3].map(() => fetch(`http://127.0.0.1:${port}/sse`)))
    expect(readers.map((r) => r.status)).toEqual([200, 200, 200])
    const fourth = await fetch(`http://127.0.0.1:${port}/sse`)
    expect(fourth.status).toBe(503)
    expect(await fourth.json()).toEqual({ error: 'too-many-sse-clients', detail: '3 event streams are open (limit 3); close one or retry later' })
    for (const r of readers) await r.body!.cancel()
  })

  it('answers a JSON body nested too deep with 400 before parsing it; fine bodies are parsed as before', async () => {
    const port = (app.server.address() as AddressInfo).port
    const deep = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '['.repeat(100_000) })
    expect(deep.status).toBe(400)
    expect(((await deep.json()) as { message: string }).message).toBe('JSON body nests deeper than 64 levels (at byte 64)')
    const ok = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":[1,{"b":"]]]"}]}' })
    expect(await ok.json()).toEqual({ a: [1, { b: ']]]' }] })
    const poisoned = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"__proto__":{"x":1}}' })
    expect(poisoned.status).toBe(400)
  })
})
