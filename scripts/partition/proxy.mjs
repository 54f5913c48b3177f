// Runs INSIDE a node's network namespace: forwards a unix socket (a file in the run folder, reachable from
// the root namespace because sockets on the filesystem are not tied to a network namespace) to the agent's
// API on 127.0.0.1 of that namespace. Plain bytes both ways, so HTTP, SSE and keep-alive all work.
// The root namespace thus needs no address on the bridge, and no extra tool (curl) is needed.
import net from 'node:net'
import { rmSync } from 'node:fs'

const [sock, port] = process.argv.slice(2)
if (!sock || !Number(port)) {
  console.error('usage: proxy.mjs <unix-socket-path> <api-port>')
  process.exit(2)
}
rmSync(sock, { force: true })
const server = net.createServer((client) => {
  const upstream = net.connect({ host: '127.0.0.1', port: Number(port) })
  client.pipe(upstream).pipe(client)
  const close = () => { client.destroy(); upstream.destroy() }
  client.on('error', close); upstream.on('error', close)
  client.on('close', close); upstream.on('close', close)
})
server.listen(sock, () => console.log(`proxy ${sock} -> 127.0.0.1:${port}`))
const stop = () => { server.close(); rmSync(sock, { force: true }); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
