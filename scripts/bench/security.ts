// `npm run bench -- security`: what the trust rules cost (docs/bench-security.md).
//   1. One Ed25519 sign and verify of a typical self-claim (node:crypto, as the agent and the simulator use it).
//   2. A 10-member cluster for 60 s of virtual time in the simulator (the same cores, codec and Ed25519 as the
//      agent; no faults, 1% loss, the agent's 50 ms tick), with signing on and off: signatures made and checked
//      per agent per second, the CPU that costs, and bytes per message on the wire.
import { writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { claimBytes } from '../../src/core/trust.ts'
import { ed25519Ops, ed25519Trust, privateKeyFromSeed, rawPublicKey, simKeySeed } from '../../src/security/ed25519.ts'
import { defaultNetwork } from '../../src/sim/network.ts'
import { runSeed } from '../../src/sim/run.ts'
import { World } from '../../src/sim/world.ts'

const NODES = 10
const VIRTUAL_MS = 60_000
const MICRO_OPS = 3000

function micro(): { signUs: number; verifyUs: number; claimBytes: number } {
  const priv = privateKeyFromSeed(simKeySeed(1, 'bench'))
  const pub = rawPublicKey(priv)
  const t = ed25519Trust(priv, () => pub)
  const claim = claimBytes({ id: 'node-10', peer: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo', incarnation: 3, addrs: ['/ip4/10.0.0.10/tcp/7946'], tags: { role: 'web', zone: 'a' } }, 'alive')
  let sig = t.sign(claim)
  for (let i = 0; i < 200; i++) t.verify('p', claim, t.sign(claim)) // warm up
  let t0 = performance.now()
  for (let i = 0; i < MICRO_OPS; i++) sig = t.sign(claim)
  const signUs = ((performance.now() - t0) * 1000) / MICRO_OPS
  t0 = performance.now()
  for (let i = 0; i < MICRO_OPS; i++) if (!t.verify('p', claim, sig)) throw new Error('verify failed')
  const verifyUs = ((performance.now() - t0) * 1000) / MICRO_OPS
  return { signUs, verifyUs, claimBytes: claim.byteLength }
}

function cluster(signing: boolean) {
  const world = new World({
    seed: 42, quorum: 'majority', expect: NODES, network: { ...defaultNetwork, loss: 0.01 }, skew: 0.01, tickMs: 50,
    broadcast: true, protocol: {}, checks: false, statusEveryMs: 1000, lossBound: 0.2, disturbWindowMs: 12_000,
    trace: false, traceMessages: false, hash: false, signing,
  })
  for (let i = 1; i <= NODES; i++) world.addNode(i)
  for (const n of world.nodes) world.call(0, () => world.start(n, world.nodes.filter((x) => x !== n).slice(0, 2)))
  const opsStart = { ...ed25519Ops }
  world.runUntil(10_000) // formation, reported apart
  const formation = { signs: (ed25519Ops.sign - opsStart.sign) / NODES, verifies: (ed25519Ops.verifyCalls - opsStart.verifyCalls) / NODES }
  const ops0 = { ...ed25519Ops }
  const msgs0 = world.counters.direct + world.counters.broadcastCopies
  const bytes0 = world.counters.wireBytes
  // Encoded messages: direct sends, plus broadcasts counted once each (a broadcast goes to the NODES - 1 others).
  const encoded = () => world.counters.direct + world.counters.broadcastCopies / (NODES - 1)
  const encoded0 = encoded()
  const cpu0 = process.cpuUsage()
  world.runUntil(10_000 + VIRTUAL_MS)
  const cpu = process.cpuUsage(cpu0)
  const msgs = world.counters.direct + world.counters.broadcastCopies - msgs0
  const perSec = (x: number) => x / NODES / (VIRTUAL_MS / 1000)
  return {
    signsPerAgentSec: perSec(ed25519Ops.sign - ops0.sign),
    verifiesPerAgentSec: perSec(ed25519Ops.verifyCalls - ops0.verifyCalls),
    cpuMsPerAgentSec: perSec((cpu.user + cpu.system) / 1000),
    messagesPerAgentSec: perSec(msgs),
    // wireBytes counts one copy per direct message and per broadcast (not per broadcast recipient)
    bytesPerEncodedMessage: (world.counters.wireBytes - bytes0) / Math.max(1, encoded() - encoded0),
    masters: world.mastersNow().map((n) => n.id),
    formation,
    drops: Object.fromEntries(world.counters.trustDrops),
  }
}

/** The 500-seed gate's faults (partitions, crashes, pauses, joins, leaves...) on 10 nodes: churn makes claims change. */
function churn(signing: boolean, seeds: number[]) {
  const ops0 = { ...ed25519Ops }
  const t0 = performance.now()
  let virtualMs = 0
  let ok = 0
  for (const seed of seeds) {
    const r = runSeed({ seed, nodes: NODES, signing })
    virtualMs += r.virtualMs
    if (r.ok) ok++
  }
  const perAgentSec = (x: number) => x / NODES / (virtualMs / 1000)
  return { wallMs: performance.now() - t0, signs: perAgentSec(ed25519Ops.sign - ops0.sign), verifies: perAgentSec(ed25519Ops.verify - ops0.verify), agentVerifies: perAgentSec(ed25519Ops.verifyCalls - ops0.verifyCalls), ok }
}

const m = micro()
const off = cluster(false)
const on = cluster(true)
const CHURN_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8]
const churnOff = churn(false, CHURN_SEEDS)
const churnOn = churn(true, CHURN_SEEDS)
const load = loadavg().map((x) => x.toFixed(1)).join(' ')
const f = (x: number, d = 1) => x.toFixed(d)
const lines = [
  '# Cost of the trust rules (signing and verifying)',
  '',
  `Measured ${new Date().toISOString().slice(0, 16)}Z on ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${load} (the machine is shared with other work; CPU figures move with it). Reproduce: \`npm run bench -- security\`.`,
  '',
  '## One operation (node:crypto Ed25519)',
  '',
  '| operation | time |',
  '|---|---|',
  `| sign a self-claim (${m.claimBytes} bytes) | ${f(m.signUs)} µs |`,
  `| verify it | ${f(m.verifyUs)} µs |`,
  '',
  `## ${NODES} agents, ${VIRTUAL_MS / 1000} s steady state (simulator: the agent's core, codec and Ed25519)`,
  '',
  'A claim is signed once per change of the member\'s own state (incarnation, addresses, tags, leaving) and verified once per receiver: relayed copies carry the same signature, which a receiver that already verified it compares instead of verifying again (core/trust.ts). So the cost follows membership changes, not message rates.',
  '',
  '| | signing off | signing on |',
  '|---|---|---|',
  `| signatures made per agent per second | ${f(off.signsPerAgentSec, 2)} | ${f(on.signsPerAgentSec, 2)} |`,
  `| signatures verified per agent per second | ${f(off.verifiesPerAgentSec, 2)} | ${f(on.verifiesPerAgentSec, 2)} |`,
  `| Ed25519 CPU per agent (ops × the times above) | 0 | ${f(on.signsPerAgentSec * m.signUs / 1000 + on.verifiesPerAgentSec * m.verifyUs / 1000, 3)} ms/s |`,
  `| messages sent per agent per second | ${f(off.messagesPerAgentSec)} | ${f(on.messagesPerAgentSec)} |`,
  `| encoded bytes per message (mean) | ${f(off.bytesPerEncodedMessage)} | ${f(on.bytesPerEncodedMessage)} |`,
  `| master at the end | ${off.masters.join(',')} | ${on.masters.join(',')} |`,
  '',
  `Formation (first 10 s, ${NODES} agents joining): ${f(on.formation.signs)} signatures made and ${f(on.formation.verifies)} verified per agent in all, about ${f((on.formation.signs * m.signUs + on.formation.verifies * m.verifyUs) / 1000, 1)} ms of CPU per agent once.`,
  '',
  `## ${NODES} agents under the simulator's full fault mix (${CHURN_SEEDS.length} seeds of the 500-seed gate's faults: partitions, one-way cuts, crashes, pauses, loss, joins, leaves, removals)`,
  '',
  '| | signing off | signing on |',
  '|---|---|---|',
  `| signatures made per agent per virtual second | 0 | ${f(churnOn.signs, 2)} |`,
  `| signatures verified, per agent per virtual second, counted as an agent does them (each agent verifies each claim it receives once) | 0 | ${f(churnOn.agentVerifies, 2)} |`,
  `| Ed25519 CPU per agent | 0 | ${f((churnOn.signs * m.signUs + churnOn.agentVerifies * m.verifyUs) / 1000, 3)} ms/s |`,
  `| wall time of the ${CHURN_SEEDS.length} runs (all ${NODES} cores in one process; the simulator shares verdicts between its cores, so one claim is verified once per world) | ${f(churnOff.wallMs / 1000, 1)} s | ${f(churnOn.wallMs / 1000, 1)} s |`,
  `| seeds without a violation | ${churnOff.ok}/${CHURN_SEEDS.length} | ${churnOn.ok}/${CHURN_SEEDS.length} |`,
  '',
  'Bytes: every member update on the wire carries its 64-byte signature (plus 2 bytes of msgpack framing and the 3-byte key);' +
    ' a ping or ack with piggybacked updates grows by that per update, a bare probe not at all. Honest traffic dropped by a trust rule in the signing run: ' +
    (Object.keys(on.drops).length ? JSON.stringify(on.drops) : 'none') + '.',
  '',
]
const out = join(import.meta.dirname, '../../docs/bench-security.md')
writeFileSync(out, lines.join('\n'))
console.log(lines.join('\n'))
