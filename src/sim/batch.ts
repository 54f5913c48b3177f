// Run a batch of seeds in child processes (one per job), for the CLI's --jobs and the CI test.
// A child runs `batch.ts <json>` and prints one JSON result per line; results come back in seed order.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { runSeed, type RunOptions, type RunResult } from './run.ts'

export interface BatchJob {
  base: Omit<RunOptions, 'seed' | 'nodes'>
  runs: { seed: number; nodes: number }[]
}

/** What a child sends back: the result without the (possibly long) trace. */
export type BatchResult = Omit<RunResult, 'trace'>

export function runJobInProcess(job: BatchJob, onResult: (r: BatchResult) => void): void {
  for (const r of job.runs) {
    const { trace: _trace, ...rest } = runSeed({ ...job.base, ...r, trace: false, traceMessages: false })
    onResult(rest)
  }
}

/** Split the runs over `jobs` child processes (Node 24 with the tsx loader) and collect the results. */
export async function runParallel(job: BatchJob, jobs: number, onProgress?: (done: number) => void): Promise<BatchResult[]> {
  if (jobs <= 1) {
    const out: BatchResult[] = []
    runJobInProcess(job, (r) => {
      out.push(r)
      onProgress?.(out.length)
    })
    return out
  }
  const self = fileURLToPath(import.meta.url)
  const parts: BatchJob[] = Array.from({ length: jobs }, () => ({ base: job.base, runs: [] }))
  job.runs.forEach((r, i) => parts[i % jobs].runs.push(r))
  let done = 0
  const results = await Promise.all(
    parts.map(
      (part) =>
        new Promise<BatchResult[]>((resolve, reject) => {
          if (part.runs.length === 0) return resolve([])
          const child = spawn(process.execPath, ['--import', 'tsx', self, JSON.stringify(part)], { stdio: ['ignore', 'pipe', 'pipe'] })
          const out: BatchResult[] = []
          let buf = ''
          let err = ''
          child.stdout.setEncoding('utf8')
          child.stdout.on('data', (chunk: string) => {
            buf += chunk
            let i
            while ((i = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, i)
              buf = buf.slice(i + 1)
              if (line.trim()) {
                out.push(JSON.parse(line) as BatchResult)
                onProgress?.(++done)
              }
            }
          })
          child.stderr.setEncoding('utf8')
          child.stderr.on('data', (c: string) => {
            err += c
          })
          child.on('error', reject)
          child.on('close', (code) => {
            if (code !== 0) reject(new Error(`sim batch child exited with ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}`))
            else resolve(out)
          })
        }),
    ),
  )
  const bySeed = new Map(results.flat().map((r) => [r.seed, r]))
  return job.runs.map((r) => bySeed.get(r.seed)!)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const job = JSON.parse(process.argv[2] ?? '') as BatchJob
  runJobInProcess(job, (r) => process.stdout.write(`${JSON.stringify(r)}\n`))
}
