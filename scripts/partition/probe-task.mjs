// The masterOnly probe task the scenarios submit continuously. It appends one JSON line per run to a
// record file on the host filesystem (every namespace sees it): which node ran it, under which term, and
// when (wall clock for reading, CLOCK_MONOTONIC for comparing: both are shared by all namespaces).
// If its agent dies while it runs (it was started in its own process group, so it survives a SIGKILL of
// the agent), it stops at once and marks the line `orphaned`: no agent is running it any more.
import { appendFileSync } from 'node:fs'

const record = process.argv[2]
if (!record) { console.error('usage: probe-task.mjs <record-file>'); process.exit(2) }
const chunks = []
for await (const c of process.stdin) chunks.push(c)
let payload = {}
try { payload = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') } catch { /* the payload is optional */ }
const holdMs = Math.min(Math.max(Number(payload?.holdMs ?? 100), 0), 5000)
const parent = process.ppid
const mono = () => Number(process.hrtime.bigint() / 1000n) // microseconds, CLOCK_MONOTONIC
const start = Date.now(), startMono = mono()
let orphaned = false
const until = startMono + holdMs * 1000
while (mono() < until) {
  if (process.ppid !== parent) { orphaned = true; break }
  await new Promise((r) => setTimeout(r, Math.min(10, Math.max(1, (until - mono()) / 1000))))
}
const line = {
  task: process.env.CONCLAVE_TASK_ID ?? null,
  node: process.env.CONCLAVE_NODE_ID ?? null,
  term: process.env.CONCLAVE_MASTER_TERM === undefined ? null : Number(process.env.CONCLAVE_MASTER_TERM),
  attempt: process.env.CONCLAVE_ATTEMPT === undefined ? null : Number(process.env.CONCLAVE_ATTEMPT),
  start, end: Date.now(), startMono, endMono: mono(), pid: process.pid, orphaned,
}
appendFileSync(record, JSON.stringify(line) + '\n')
if (orphaned) process.exit(1)
process.stdout.write(JSON.stringify({ node: line.node, term: line.term, start: line.start, end: line.end }))
