// Limits of the HTTP API: JSON bodies bounded in size (fastify's bodyLimit: 1 MiB by default, 8 MiB on POST
// /v1/tasks) and in nesting depth before they are parsed, and Server-Sent
// Events streams bounded in number and in what each client may leave unread. Every refusal is counted in
// conclave_http_refused_total{limit}. Defaults and reasons: docs/limits.md.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import { Counter, type Registry } from 'prom-client'

export const httpLimitDefaults = {
  /** Nesting depth of a JSON body (a task payload may then nest 63 deep: the same bound the task wire keeps). */
  jsonDepth: 64,
  /** SSE clients at once (all SSE routes together). */
  sseClients: 64,
  /** Bytes an SSE client may leave unread before it is dropped. */
  sseBufferedBytes: 256 * 1024,
}
export type HttpLimitOptions = typeof httpLimitDefaults
type HttpRefusal = 'body-too-large' | 'json-depth' | 'json-syntax' | 'sse-clients' | 'sse-slow-client'

/** Index past which `text` nests deeper than `max` ([ and { outside strings), or -1. One pass, no allocation. */
export function jsonDepthExceeded(text: string, max: number): number {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c /* \ */) i++
      else if (c === 0x22 /* " */) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return i
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return -1
}

class HttpLimitError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface HttpLimits {
  readonly o: HttpLimitOptions
  /** Open an SSE stream (writes the head), or answer 503 and return null when all slots are taken. */
  openSse(req: FastifyRequest, reply: FastifyReply): SseClient | null
}

/** One SSE client: write() drops it once it leaves more than the buffer bound unread. */
export class SseClient {
  private closed = false
  private readonly onClose: Array<() => void> = []

  constructor(
    readonly res: ServerResponse,
    private readonly maxBuffered: number,
    private readonly dropped: () => void,
  ) {
    res.once('close', () => this.close())
  }

  /** Send a chunk; false once the client is gone or dropped. */
  write(chunk: string): boolean {
    if (this.closed) return false
    if (this.res.writableLength > this.maxBuffered) {
      // A client that does not read: keeping its events would grow without bound. It can reconnect.
      this.dropped()
      this.res.destroy()
      this.close()
      return false
    }
    this.res.write(chunk)
    return true
  }

  /** Run `f` when the stream ends for any reason (client gone, dropped, server closing). */
  whenClosed(f: () => void): void {
    if (this.closed) f()
    else this.onClose.push(f)
  }

  private close(): void {
    if (this.closed) return
    this.closed = true
    for (const f of this.onClose.splice(0)) f()
  }
}

/** Install the body parser and error counting on `app`; returns the SSE gate for SSE routes. */
export function registerHttpLimits(app: FastifyInstance, registry: Registry, options: Partial<HttpLimitOptions> = {}): HttpLimits {
  const o = { ...httpLimitDefaults, ...options }
  const refused =
    (registry.getSingleMetric('conclave_http_refused_total') as Counter<'limit'> | undefined) ??
    new Counter({ name: 'conclave_http_refused_total', help: 'HTTP requests and streams refused by a limit, by limit', labelNames: ['limit'], registers: [registry] })
  for (const limit of ['body-too-large', 'json-depth', 'json-syntax', 'sse-clients', 'sse-slow-client'] satisfies HttpRefusal[]) refused.inc({ limit }, 0)

  // JSON bodies: depth checked on the text before JSON.parse (which recurses, and a payload nested a million
  // deep overflowed its stack: a 500), then fastify's own parser (prototype poisoning protection).
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string
    const at = jsonDepthExceeded(text, o.jsonDepth)
    if (at >= 0) {
      refused.inc({ limit: 'json-depth' })
      done(new HttpLimitError(400, 'FST_ERR_JSON_DEPTH', `JSON body nests deeper than ${o.jsonDepth} levels (at byte ${at})`), undefined)
      return
    }
    parseJson(req, text, (err, value) => {
      if (err) refused.inc({ limit: 'json-syntax' })
      done(err, value)
    })
  })
  app.addHook('onError', async (_req, _reply, err) => {
    if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') refused.inc({ limit: 'body-too-large' })
  })

  let sse = 0
  return {
    o,
    openSse(_req, reply) {
      if (sse >= o.sseClients) {
        refused.inc({ limit: 'sse-clients' })
        void reply.code(503).send({ error: 'too-many-sse-clients', detail: `${sse} event streams are open (limit ${o.sseClients}); close one or retry later` })
        return null
      }
      sse++
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
      const client = new SseClient(res, o.sseBufferedBytes, () => refused.inc({ limit: 'sse-slow-client' }))
      client.whenClosed(() => sse--)
      return client
    },
  }
}
