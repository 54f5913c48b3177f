// A simulated cluster started as a user starts one (no --expect), for tests of a settled cluster.
import { TICK_MIN_GAP_MS } from '../../src/core/node.ts'
import { defaultNetwork } from '../../src/sim/network.ts'
import { World } from '../../src/sim/world.ts'

/** n nodes started within 500 ms, each bootstrapping to the first, with the simulator's checks on. */
export function startedWorld(n: number, seed: number): World {
  const w = new World({
    seed,
    quorum: 'majority',
    expect: 1,
    network: defaultNetwork,
    skew: 0.01,
    tickMs: TICK_MIN_GAP_MS,
    broadcast: true,
    protocol: {},
    checks: true,
    statusEveryMs: 1000,
    lossBound: 0.2,
    disturbWindowMs: 0,
    trace: false,
    traceMessages: false,
    hash: false,
  })
  const nodes = Array.from({ length: n }, (_, i) => w.addNode(i + 1))
  for (const x of nodes) w.call(w.rng() * 500, () => w.start(x, nodes[0] === x ? [] : [nodes[0]!]))
  return w
}
