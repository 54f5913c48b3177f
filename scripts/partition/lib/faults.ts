// The fault matrix of issue 13 (membership a sick node cannot poison): figures and bounds shared by the
// ingress-loss, ingress-toggle, oneway-in, oneway-out and crash-two scenarios.
//
// Figures per observer, over the scenario's fault window (from the fault until the faulty node is back in
// every view, plus a settling margin), from each agent's own /v1/events stream:
// - view changes: member-state transitions it made, of any member;
// - false suspect / false dead: a healthy member (neither the faulty node nor a crashed one) went suspect / dead;
// - removals / re-admissions of the faulty (or crashed) node: into dead, and from dead back to alive;
// - disagreement: how long the healthy observers' views differed (suspect counted as alive, as `serf members`
//   shows it; the strict figure tells suspect from alive).
// Bounds: no healthy observer declares a healthy member dead; per healthy observer at most `maxRemovals` removals
// and `maxReadmissions` re-admissions of the faulty node per fault. The faulty node's own view is reported, not
// bounded (it cannot hear, or cannot be heard).
import type { Ctx } from './scenario.ts'
import { viewReport, viewTable, type ViewLog, type ViewReport } from './views.ts'

export interface FaultBounds {
  faulty: string[]
  crashed?: string[]
  from: number
  to?: number
  /** per healthy observer and faulty node over the whole window (default 1) */
  maxRemovals?: number
  maxReadmissions?: number
}

export function faultReport(s: Ctx, views: ViewLog, b: FaultBounds): ViewReport {
  const to = b.to ?? s.tl.now()
  const special = [...b.faulty, ...(b.crashed ?? [])]
  const r = viewReport(views.changes, { ids: s.cluster.ids(), faulty: b.faulty, crashed: b.crashed, from: b.from, to })
  const t = viewTable(r, special)
  const secs = (ms: number) => (ms / 1000).toFixed(2)
  s.report(`membership views over ${secs(to - b.from)} s from the fault (from /v1/events): healthy observers disagreed ${secs(r.disagreeMs)} s ` +
    `(longest ${secs(r.longestDisagreeMs)} s; ${secs(r.disagreeStrictMs)} s counting suspect apart)`, t.headers, t.rows,
  { window: [b.from, to], disagreeMs: r.disagreeMs, disagreeStrictMs: r.disagreeStrictMs, longestDisagreeMs: r.longestDisagreeMs,
    observers: r.observers.map(({ falseDeadOf: _, ...x }) => x), streamGaps: Object.fromEntries(views.gaps) })
  const maxRem = b.maxRemovals ?? 1
  const maxRe = b.maxReadmissions ?? 1
  for (const o of r.observers.filter((x) => x.role === 'healthy')) {
    if (o.falseDead) s.violation(`${o.observer} declared a healthy member dead ${o.falseDead} time(s): ${o.falseDeadOf.slice(0, 6).join(', ')}`)
    for (const m of b.faulty) {
      const rem = o.removals[m] ?? 0
      const re = o.readmissions[m] ?? 0
      if (rem > maxRem) s.violation(`${o.observer} removed the faulty ${m} ${rem} times (bound ${maxRem})`)
      if (re > maxRe) s.violation(`${o.observer} re-admitted the faulty ${m} ${re} times (bound ${maxRe})`)
    }
  }
  const healthy = r.observers.filter((x) => x.role === 'healthy')
  s.log(`fault figures: false dead ${healthy.reduce((a, x) => a + x.falseDead, 0)}, false suspect ${healthy.reduce((a, x) => a + x.falseSuspect, 0)} ` +
    `(healthy observers); removals/re-admissions of ${special.join(',')} per healthy observer: ` +
    healthy.map((x) => `${x.observer} ${special.map((m) => `${x.removals[m] ?? 0}/${x.readmissions[m] ?? 0}`).join(' ')}`).join(', ') +
    `; disagreement ${secs(r.disagreeMs)} s (strict ${secs(r.disagreeStrictMs)} s)`)
  return r
}

/** Every observer's stream is open and the views start converged (all alive), or the figures would be off. */
export async function startViews(s: Ctx): Promise<ViewLog> {
  const v = await s.views()
  await s.measure('views converged before the fault', () => s.cluster.ids().every((m) => s.allSee(m, ['alive'])), { boundMs: 20_000 })
  return v
}

/** After the heal: the faulty node alive in every other live view (and all views converged), then `settleMs` more. */
export async function recovered(s: Ctx, faulty: string, o: { boundMs?: number; settleMs?: number } = {}): Promise<void> {
  await s.measure(`${faulty} alive in every view after the heal`, () => s.allSee(faulty, ['alive']), { boundMs: o.boundMs ?? 15_000, from: s.lastFaultEndAt })
  await s.hold(o.settleMs ?? 2000)
}
