// `npm run cluster -- <command>`: bring a cluster of real agents up in network namespaces, break it, look at it.
import { Command, InvalidArgumentError } from 'commander'
import { readFileSync, existsSync } from 'node:fs'
import { Cluster, staleRuns, teardown } from './lib/cluster.ts'
import { listRuns } from './lib/state.ts'
import { nftRuleset } from './lib/net.ts'
import { agentAlive } from './lib/proc.ts'
import { preflight } from './lib/preflight.ts'
import { naturalCompare } from './lib/sys.ts'
import { table } from './lib/table.ts'
import type { Status } from './lib/api.ts'

const program = new Command('cluster')
program.description('conclave agents in Linux network namespaces, with faults injected by nftables and signals')
  .option('--run <prefix>', 'act on this run (default: the last cluster started with `up`)')
  .showHelpAfterError()

const ids = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean)
const int = (v: string) => { const n = Number(v); if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer'); return n }
const load = () => Cluster.load(program.opts().run)
function need(): void { const p = preflight(); if (!p.ok) { console.error(`cannot run: ${p.why}`); process.exit(2) } }

program.command('up').description('create namespaces on a private bridge, start one agent in each (mDNS only), wait until all see all alive')
  .option('--nodes <n>', 'number of agents', int, 5)
  .option('--ids <ids>', 'comma-separated node ids (default node-1..node-N)', ids)
  .option('--config <file>', 'agent config (JSON); its tasks are kept, the probe task is added')
  .option('--quorum <mode>', 'majority|none', 'majority')
  .option('--expect <n>', 'passed to every agent (default: the number of nodes)', int)
  .option('--log-level <level>', 'agent log level', 'info')
  .option('--wait <ms>', 'how long to wait for all agents to agree', int, 120_000)
  .action(async (o) => {
    need()
    if (!['majority', 'none'].includes(o.quorum)) throw new InvalidArgumentError(`--quorum must be majority or none (got ${o.quorum})`)
    for (const r of staleRuns()) { console.log(`removing leftovers of crashed run ${r.runId}`); teardown(r) }
    const t = Date.now()
    let c: Cluster | null = null
    try {
      c = await Cluster.up({ nodes: o.nodes, ids: o.ids, config: o.config ?? null, quorum: o.quorum, expect: o.expect, logLevel: o.logLevel, waitMs: o.wait, mode: 'cli', log: console.log })
    } catch (e) {
      console.error(`up failed: ${(e as Error).message}`)
      const r = listRuns().filter((x) => !x.down && x.ownerPid === process.pid).pop()
      if (r) { console.error(`logs kept in ${r.dir}/logs; removing namespaces`); teardown(r) }
      process.exit(1)
    }
    console.log(`cluster ${c.s.prefix} up in ${((Date.now() - t) / 1000).toFixed(1)} s; run folder ${c.dir}`)
    await printStatus(c)
  })

program.command('down').description('stop every agent and remove everything the run created (idempotent)')
  .option('--all', 'every run recorded under .runs that is not down yet (also crashed harness runs)')
  .option('--purge', 'also delete the run folder (logs, timeline, record)')
  .action((o) => {
    const runs = o.all ? listRuns().filter((r) => !r.down) : [load().s]
    if (!runs.length) console.log('nothing to remove')
    for (const r of runs) {
      const errs = teardown(r, { purge: o.purge })
      console.log(`${r.prefix}: removed ${r.namespaces.length} namespaces, bridge ${r.bridge}${errs.length ? ` (errors: ${errs.join('; ')})` : ''}${o.purge ? '' : `; logs kept in ${r.dir}`}`)
    }
  })

program.command('runs').description('list runs under .runs').action(() => {
  console.log(table(['prefix', 'mode', 'state', 'nodes', 'folder'], listRuns().map((r) => [r.prefix, r.mode, r.down ? 'down' : 'up', String(r.nodes.length), r.dir])))
})

program.command('status').description("every agent's view side by side: master, term, quorum, members by state")
  .option('--json', 'raw /v1/status of every agent')
  .action(async (o) => {
    const c = load()
    if (o.json) { console.log(JSON.stringify(Object.fromEntries(await c.statuses()), null, 2)); return }
    await printStatus(c)
  })

async function printStatus(c: Cluster): Promise<void> {
  const st = await c.statuses()
  const members = [...new Set([...c.ids(), ...[...st.values()].flatMap((s) => s?.members.map((m) => m.id) ?? [])])].sort(naturalCompare)
  const letter: Record<string, string> = { alive: 'A', suspect: 'S', dead: 'D', left: 'L' }
  const rows = c.ids().map((id) => {
    const n = c.node(id)
    const s: Status | null = st.get(id) ?? null
    const proc = n.proc === 'running' && !agentAlive(n) ? 'exited' : n.proc
    if (!s) return [id, n.ip, proc, '-', '-', '-', ...members.map(() => '?')]
    return [id, n.ip, proc, s.master ? s.master.id : 'none', s.master ? String(s.master.term) : '-',
      `${s.quorum.has ? 'yes' : 'no'} ${s.quorum.visible}/${s.quorum.voting} need ${s.quorum.needed}`,
      ...members.map((m) => { const x = s.members.find((y) => y.id === m); return x ? letter[x.state] ?? x.state : '.' })]
  })
  console.log(table(['agent', 'ip', 'process', 'master', 'term', 'quorum', ...members], rows))
  console.log(`members: A alive, S suspect, D dead, L left, . unknown, ? no answer   faults: ${c.faultsText()}`)
}

program.command('partition').description('cut the cluster into groups: partition A,B / C,D,E (unlisted nodes form one more group)')
  .argument('<groups...>').action((words: string[]) => {
    const groups = words.join(' ').split('/').map((g) => ids(g.replace(/\s+/g, ',')))
    if (groups.some((g) => !g.length)) throw new InvalidArgumentError('empty group: write groups like "A,B / C,D,E"')
    const c = load(); c.partition(groups); console.log(`faults: ${c.faultsText()}`)
  })
program.command('isolate').argument('<id>').description('cut one node off from all others').action((id: string) => { const c = load(); c.isolate(id); console.log(`faults: ${c.faultsText()}`) })
program.command('bridge').description('non-transitive partition: left and right cannot reach each other, middle reaches both')
  .argument('<left>', 'ids, comma-separated').argument('<middle>').argument('<right>')
  .action((l: string, m: string, r: string) => { const c = load(); c.bridge(ids(l), ids(m), ids(r)); console.log(`faults: ${c.faultsText()}`) })
program.command('oneway').description("asymmetric: packets from A never reach B (oneway A B, or 'A->B' quoted)").argument('<spec...>')
  .action((spec: string[]) => {
    const m = spec.join(' ').match(/^\s*([^\s>-][^\s>]*?)\s*(?:->|\s)\s*(\S+)\s*$/)
    if (!m) throw new InvalidArgumentError('write: oneway A->B')
    const c = load(); c.oneway(m[1], m[2]); console.log(`faults: ${c.faultsText()}`)
  })
program.command('loss').description('random packet loss with nft numgen: loss 20% [ids...] (all nodes if none given; 0% removes it)')
  .argument('<percent>').argument('[ids...]').action((p: string, who: string[]) => {
    const pct = Number(p.replace(/%$/, ''))
    if (!Number.isFinite(pct) || pct < 0 || pct > 100) throw new InvalidArgumentError(`bad percentage: ${p}`)
    const c = load(); c.loss(pct, who.length ? who.flatMap(ids) : null); console.log(`faults: ${c.faultsText()}`)
  })
program.command('heal').description('remove every network fault').action(() => { const c = load(); c.heal(); console.log('faults: none') })

const proc = (name: string, desc: string, fn: (c: Cluster, id: string) => unknown) =>
  program.command(name).argument('<id>').description(desc).action(async (id: string) => { const c = load(); await fn(c, id); console.log(`${id}: ${c.node(id).proc}`) })
proc('kill', 'SIGKILL the agent', (c, id) => c.kill(id))
proc('pause', 'SIGSTOP the agent', (c, id) => c.pause(id))
proc('resume', 'SIGCONT the agent', (c, id) => c.resume(id))
proc('leave', 'SIGTERM: the agent leaves gracefully', (c, id) => c.leave(id))
program.command('restart').argument('<id>').description('start the agent again with the same data dir (graceful stop first if it runs)')
  .option('--hard', 'SIGKILL instead of SIGTERM when it runs').action(async (id: string, o) => { const c = load(); await c.restart(id, { hard: !!o.hard }); console.log(`${id}: restarted (pid ${c.node(id).pid})`) })
program.command('add').argument('<id>').description('add a new namespace and agent to the running cluster')
  .option('--side-of <id>', 'during a partition: join on the side of this node').action(async (id: string, o) => {
    const c = load(); const n = await c.add(id, { sameSideAs: o.sideOf }); console.log(`${id}: started in ${n.ns} (${n.ip})`)
  })
program.command('rules').argument('[id]').description('the nftables table inside a node\'s namespace').action((id?: string) => {
  const c = load(); for (const n of id ? [c.node(id)] : c.s.nodes) console.log(`# ${n.id} (${n.ns})\n${nftRuleset(n)}`)
})
program.command('logs').argument('<id>').option('-n <lines>', 'lines', int, 40).description('tail of an agent\'s log')
  .action((id: string, o) => { const f = load().node(id).logFile; console.log(existsSync(f) ? readFileSync(f, 'utf8').trimEnd().split('\n').slice(-o.n).join('\n') : `no log at ${f}`) })
program.command('sock').argument('<id>').description('the unix socket of an agent\'s API, for curl --unix-socket <sock> http://x/v1/status')
  .action((id: string) => console.log(load().node(id).sock))

program.parseAsync().catch((e) => { console.error(`error: ${(e as Error).message}`); process.exit(2) })
