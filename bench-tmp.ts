import { encode } from '@msgpack/msgpack'
import { decodeMessage } from './src/net/codec.ts'
const variants: Record<string, Uint8Array> = {
  topArray: encode(Array.from({ length: 4096 }, () => ({}))),
  pingGossip: encode({ t: 'ping', seq: 1, from: 'x', gossip: Array.from({ length: 4000 }, () => ({})) }),
  syncMembers: encode({ t: 'sync', from: 'x', reply: false, members: Array.from({ length: 4000 }, () => ({})), config: null, maxTerm: 1 }),
  nested: (() => { const b = new Uint8Array(4096).fill(0x91); b[4095] = 0xc0; return b })(),
}
for (const [k, b] of Object.entries(variants)) {
  for (let i = 0; i < 3; i++) decodeMessage(b)
  const t = performance.now(); const n = 20
  let r
  for (let i = 0; i < n; i++) r = decodeMessage(b)
  console.log(k, b.length, ((performance.now() - t) / n).toFixed(3), 'ms', JSON.stringify(r).slice(0, 100))
}
