// Namespaces on a private bridge, and faults as nftables rules inside each namespace.
// The root namespace never gets an address on the bridge (addrgenmode none, no IPv4), so nothing
// outside the run can reach the agents and the agents' mDNS never leaves the bridge.
import { must, sh } from './sys.ts'
import { saveState, type FaultState, type NodeState, type RunState } from './state.ts'

export const NFT_TABLE = 'conclave'

export function createBridge(s: RunState): void {
  if (!s.links.includes(s.bridge)) { s.links.push(s.bridge); saveState(s) }
  must('ip', ['link', 'add', s.bridge, 'type', 'bridge'])
  s.bridgeCreated = true
  saveState(s)
  must('ip', ['link', 'set', s.bridge, 'addrgenmode', 'none']) // no fe80:: in the root namespace
  must('ip', ['link', 'set', s.bridge, 'up'])
}

export function createNodeNet(s: RunState, n: NodeState): void {
  if (!s.namespaces.includes(n.ns)) s.namespaces.push(n.ns)
  if (!s.links.includes(n.vethBr)) s.links.push(n.vethBr)
  saveState(s)
  must('ip', ['netns', 'add', n.ns])
  must('ip', ['link', 'add', n.veth, 'type', 'veth', 'peer', 'name', n.vethBr])
  must('ip', ['link', 'set', n.vethBr, 'addrgenmode', 'none'])
  must('ip', ['link', 'set', n.vethBr, 'master', s.bridge])
  must('ip', ['link', 'set', n.vethBr, 'up'])
  must('ip', ['link', 'set', n.veth, 'netns', n.ns])
  must('ip', ['-n', n.ns, 'addr', 'add', `${n.ip}/24`, 'dev', n.veth])
  must('ip', ['-n', n.ns, 'link', 'set', 'lo', 'up'])
  must('ip', ['-n', n.ns, 'link', 'set', n.veth, 'up'])
  must('ip', ['-n', n.ns, 'route', 'add', '224.0.0.0/4', 'dev', n.veth]) // mDNS multicast goes out on the veth
}

/** Removes namespaces and links of a run; idempotent and tolerant of things already gone. */
export function destroyNet(s: RunState): string[] {
  const errors: string[] = []
  for (const ns of s.namespaces) {
    if (!nsExists(ns)) continue
    const r = sh('ip', ['netns', 'del', ns])
    if (!r.ok && nsExists(ns)) errors.push(`ip netns del ${ns}: ${r.stderr.trim()}`)
  }
  for (const link of s.links) {
    if (!sh('ip', ['link', 'show', link]).ok) continue
    const r = sh('ip', ['link', 'del', link])
    // a veth end goes away by itself, a moment after its peer's namespace was deleted
    if (!r.ok && !/Cannot find device/.test(r.stderr)) errors.push(`ip link del ${link}: ${r.stderr.trim()}`)
  }
  return errors
}

export function nsExists(ns: string): boolean {
  const r = sh('ip', ['netns', 'list'])
  return r.ok && r.stdout.split('\n').some((l) => l.split(' ')[0] === ns)
}

export function nsPids(ns: string): number[] {
  const r = sh('ip', ['netns', 'pids', ns])
  if (!r.ok) return []
  return r.stdout.split('\n').map((x) => Number(x.trim())).filter((x) => Number.isInteger(x) && x > 0)
}

// ---- faults ---------------------------------------------------------------------------------

export function emptyFaults(): FaultState { return { blocked: [], silent: [], loss: null, ingress: [], describe: [] } }

/** The nft script for one node: a whole table, replaced atomically (add, delete, add in one transaction). */
export function renderNft(s: RunState, n: NodeState): string {
  const ipOf = new Map(s.nodes.map((x) => [x.id, x.ip]))
  const dropIn = [...new Set([...s.faults.blocked, ...(s.faults.silent ?? [])].filter(([, to]) => to === n.id).map(([from]) => ipOf.get(from)!).filter(Boolean))]
  const dropOut = [...new Set(s.faults.blocked.filter(([from]) => from === n.id).map(([, to]) => ipOf.get(to)!).filter(Boolean))]
  const input: string[] = []
  const output: string[] = []
  if (dropIn.length) input.push(`ip saddr { ${dropIn.join(', ')} } drop`)
  if (dropOut.length) output.push(`ip daddr { ${dropOut.join(', ')} } drop`)
  const loss = s.faults.loss
  if (loss) {
    const p = loss.percent
    if (!loss.nodes) {
      // Every node drops p% of what it receives from the bridge: each packet crosses exactly one input hook.
      input.push(`iifname "${n.veth}" numgen random mod 100 < ${p} drop`)
    } else if (loss.nodes.includes(n.id)) {
      // p% of every packet to or from the lossy nodes, counted once: outputs towards lossy peers are left
      // to the receiver's input rule.
      input.push(`iifname "${n.veth}" numgen random mod 100 < ${p} drop`)
      const others = s.nodes.filter((x) => !loss.nodes!.includes(x.id)).map((x) => x.ip)
      if (others.length) output.push(`oifname "${n.veth}" ip daddr { ${others.join(', ')} } numgen random mod 100 < ${p} drop`)
      output.push(`oifname "${n.veth}" ip daddr 224.0.0.0/4 numgen random mod 100 < ${p} drop`)
    }
  }
  // Ingress faults of this node: only what arrives on its veth (its own API traffic runs on lo and is untouched);
  // what it sends leaves as usual, so it still talks (and gossips) while it hears little or nothing.
  for (const g of s.faults.ingress ?? []) {
    if (g.node !== n.id) continue
    input.push(g.percent >= 100 ? `iifname "${n.veth}" drop` : `iifname "${n.veth}" numgen random mod 100 < ${g.percent} drop`)
  }
  return [
    `table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    `  chain input {`,
    `    type filter hook input priority filter; policy accept;`,
    ...input.map((r) => `    ${r}`),
    `  }`,
    `  chain output {`,
    `    type filter hook output priority filter; policy accept;`,
    ...output.map((r) => `    ${r}`),
    `  }`,
    `}`,
    '',
  ].join('\n')
}

/** `applied` hears each node's id as soon as its namespace has the new rules (one `nft -f` per node, in turn). */
export function applyFaults(s: RunState, applied?: (id: string) => void): void {
  for (const n of s.nodes) {
    if (!nsExists(n.ns)) continue
    must('ip', ['netns', 'exec', n.ns, 'nft', '-f', '-'], renderNft(s, n))
    applied?.(n.id)
  }
  saveState(s)
}

export function nftRuleset(n: NodeState): string {
  return sh('ip', ['netns', 'exec', n.ns, 'nft', 'list', 'table', 'inet', NFT_TABLE]).stdout
}
