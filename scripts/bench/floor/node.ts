// One process of scripts/bench/libp2p-floor.mjs: the libp2p stack alone, built as the agent builds it
// (src/net/node.ts: tcp, noise, yamux, identify, ping, gossipsub with the agent's settings), with none of the rest of
// the agent (no core, HTTP API, metrics, logger, config schemas, task service). It listens on 127.0.0.1:<port>,
// dials every address given after the port, subscribes to one topic and publishes 60 bytes on it every second (the
// agent's own traffic goes on streams of its protocol; here gossipsub keeps the connections busy), prints its
// multiaddr on the first line of stdout, then its connection count every 5 s, and exits after <lifetime-s> at the latest.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { buildNode } from '../../../src/net/node.ts'

const [port, lifetimeS, ...dial] = process.argv.slice(2)
setTimeout(() => process.exit(0), Number(lifetimeS) * 1000).unref()
const node = await buildNode({ privateKey: await generateKeyPair('Ed25519'), listen: `/ip4/127.0.0.1/tcp/${port}`, bootstrapWithPeerId: [], mdns: false })
await node.start()
node.services.pubsub.subscribe('floor')
process.stdout.write(`${node.getMultiaddrs()[0]!.toString()}\n`)
for (const a of dial) await node.dial(multiaddr(a)).catch((e: Error) => process.stderr.write(`dial ${a}: ${e.message}\n`))
const payload = new Uint8Array(60)
setInterval(() => void node.services.pubsub.publish('floor', payload).catch(() => {}), 1000)
// Its open connections, every 5 s, for the parent to report.
setInterval(() => process.stdout.write(`connections ${node.getConnections().length}\n`), 5000)
process.on('SIGTERM', () => {
  Promise.resolve(node.stop()).finally(() => process.exit(0))
})
