// Can this machine run the partition tests? Root, iproute2 with netns, nftables, and a working bridge.
import { sh, which } from './sys.ts'
import { randomBytes } from 'node:crypto'

export function preflight(): { ok: boolean; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: `needs Linux network namespaces (this is ${process.platform})` }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, why: `needs root and network namespaces (running as uid ${process.getuid()})` }
  if (!which('ip')) return { ok: false, why: 'needs root and network namespaces (iproute2 `ip` not found; apt-get install -y iproute2)' }
  if (!which('nft')) return { ok: false, why: 'needs nftables (`nft` not found; apt-get install -y nftables)' }
  const ns = 'cvpf' + randomBytes(3).toString('hex')
  const add = sh('ip', ['netns', 'add', ns])
  if (!add.ok) return { ok: false, why: `needs root and network namespaces (ip netns add failed: ${add.stderr.trim()})` }
  try {
    // the same kind of table, chain and numgen rule the faults use
    const nft = sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'],
      'table inet cvpf {\n chain input {\n  type filter hook input priority filter; policy accept;\n  ip saddr 10.77.0.1 numgen random mod 100 < 20 drop\n }\n}\n')
    if (!nft.ok) return { ok: false, why: `needs nftables in network namespaces (nft failed: ${nft.stderr.trim().split('\n')[0]})` }
    const br = sh('ip', ['-n', ns, 'link', 'add', 'cvpfbr', 'type', 'bridge'])
    if (!br.ok) return { ok: false, why: `needs bridge support (ip link add type bridge failed: ${br.stderr.trim()})` }
    const veth = sh('ip', ['-n', ns, 'link', 'add', 'cvpfa', 'type', 'veth', 'peer', 'name', 'cvpfb'])
    if (!veth.ok) return { ok: false, why: `needs veth support (ip link add type veth failed: ${veth.stderr.trim()})` }
  } finally { sh('ip', ['netns', 'del', ns]) }
  return { ok: true, why: '' }
}
