import { describe, expect, it } from 'vitest'
import { MiniNet } from './mini-net.ts'

describe('smoke', () => {
  it('5 nodes converge on node-1 as master', () => {
    const net = new MiniNet(1)
    net.add('node-1')
    for (let i = 2; i <= 5; i++) net.add('node-' + i, {}, ['node-1'])
    net.run(8000)
    for (const c of net.live()) {
      const st = c.status(net.now)
      console.log(c.config.id, st.master, st.quorum, st.config?.voters.join(','), st.members.map((m) => m.id + ':' + m.state).join(' '))
    }
    expect(net.masters()).toEqual(['node-1'])
  })
})
