// HTTP to an agent's API through its unix-socket proxy (see proxy.mjs).
import http from 'node:http'

export interface Member { id: string; peerId: string; state: 'alive' | 'suspect' | 'dead' | 'left'; incarnation: number; addrs: string[]; since: string }
export interface Status {
  id: string
  peerId: string
  addrs: string[]
  master: { id: string; term: number } | null
  quorum: { has: boolean; visible: number; voting: number; needed: number }
  members: Member[]
  clusterId?: string | null
  role?: 'master' | 'voter' | 'member'
  voters?: string[]
}

export interface HttpResult { status: number; body: any; text: string }

export function request(sock: string, method: string, path: string, body?: unknown, timeoutMs = 2000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const req = http.request({
      socketPath: sock, method, path, agent: false,
      headers: { host: 'conclave', 'x-conclave-client': 'partition-harness', ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        clearTimeout(timer)
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: any = undefined
        try { parsed = text ? JSON.parse(text) : undefined } catch { parsed = undefined }
        resolve({ status: res.statusCode ?? 0, body: parsed, text })
      })
      res.on('error', (e) => { clearTimeout(timer); reject(e) })
    })
    const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${path}`)), timeoutMs)
    req.on('error', (e) => { clearTimeout(timer); reject(e) })
    if (data) req.write(data)
    req.end()
  })
}

export async function getStatus(sock: string, timeoutMs = 1500): Promise<Status | null> {
  try {
    const r = await request(sock, 'GET', '/v1/status', undefined, timeoutMs)
    return r.status === 200 && r.body && typeof r.body === 'object' ? (r.body as Status) : null
  } catch { return null }
}
