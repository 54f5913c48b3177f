import { encodeMessage, decodeMessage } from '../../src/core/codec.ts'
const d = decodeMessage(encodeMessage({ t: 'updates', from: 'a', updates: [{ id: 'x', peer: 'p', addrs: [], incarnation: 1, state: 'alive', tags: { a: 'b' } }] }))
if (!d.ok) throw new Error('no')
const m = d.msg as any
console.log(Object.getPrototypeOf(m) === Object.prototype, Object.getPrototypeOf(m.updates[0]) === Object.prototype, Object.getPrototypeOf(m.updates[0].tags) === Object.prototype)
