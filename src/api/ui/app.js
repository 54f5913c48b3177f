// The conclave dashboard: plain JavaScript, no build step, no external files. It reads the agent's JSON API once,
// then follows GET /v1/events (Server-Sent Events): member and master changes are applied as they arrive, and the
// full status is fetched again shortly after each change so the page never drifts from the agent's view.
'use strict'

const $ = (sel) => document.querySelector(sel)
const SVG = 'http://www.w3.org/2000/svg'
/** Timeline length kept in the page. */
const MAX_TIMELINE = 200
/** Load and tasks have no events; they are fetched this often. */
const POLL_MS = 2000

const view = { status: null, info: null, loads: {}, tasks: { running: [], recent: [] }, flashed: new Set(), shown: new Set() }

/** Natural order of node ids ("node-2" < "node-10"), as the core orders them. */
function naturalCompare(a, b) {
  const re = /(\d+)|(\D+)/g
  const pa = a.match(re) || [], pb = b.match(re) || []
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i], y = pb[i]
    if (x === y) continue
    const nx = /^\d/.test(x), ny = /^\d/.test(y)
    if (nx && ny) return Number(x) - Number(y) || x.length - y.length
    return x < y ? -1 : 1
  }
  return pa.length - pb.length
}

function el(tag, attrs = {}, ...children) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'text') e.textContent = v
    else e.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c)
  return e
}

function age(iso) {
  if (!iso) return '-'
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))
  if (s < 120) return `${s}s ago`
  if (s < 7200) return `${Math.round(s / 60)}m ago`
  if (s < 172800) return `${Math.round(s / 3600)}h ago`
  return `${Math.round(s / 86400)}d ago`
}

async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store' })
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
  return res.json()
}

// ---- derived facts ---------------------------------------------------------------------------------------------

function voters() {
  const s = view.status
  if (s && Array.isArray(s.voters)) return s.voters
  return (view.info && view.info.voters) || []
}

function roleOf(m) {
  const s = view.status
  if (s && s.master && s.master.id === m.id) return 'master'
  if (typeof m.voter === 'boolean') return m.voter ? 'voter' : 'member'
  return voters().includes(m.id) ? 'voter' : 'member'
}

function tagsOf(m) {
  if (m.tags && typeof m.tags === 'object') return m.tags
  if (view.status && m.id === view.status.id && view.info) return view.info.tags || {}
  return {}
}

function members() {
  return view.status ? [...view.status.members].sort((a, b) => naturalCompare(a.id, b.id)) : []
}

// ---- rendering -------------------------------------------------------------------------------------------------

function render() {
  const s = view.status
  if (!s) return
  const info = view.info || {}
  $('#self').textContent = `node ${s.id}${info.version ? ` · v${info.version}` : ''}`
  const clusterId = s.clusterId !== undefined ? s.clusterId : info.clusterId
  $('#cluster').textContent = clusterId ? `cluster ${clusterId}` : ''
  $('#ring-self').textContent = s.id
  document.title = `conclave · ${s.id}`

  const master = $('#master')
  master.textContent = s.master ? s.master.id : 'none'
  master.className = 'big' + (s.master ? '' : ' no')
  $('#master-detail').textContent = s.master ? `term ${s.master.term}${s.master.id === s.id ? ' · this node' : ''}` : 'no master recognised by this node'

  const q = s.quorum
  const quorum = $('#quorum')
  quorum.textContent = q.has ? 'yes' : 'NO'
  quorum.className = 'big ' + (q.has ? 'yes' : 'no')
  const spare = q.visible - q.needed
  $('#quorum-detail').textContent =
    `${q.visible} of ${q.voting} voters visible, ${q.needed} needed (majority of ${q.voting})` +
    (q.has ? ` · survives ${spare} more voter failure${spare === 1 ? '' : 's'}` : ` · ${q.needed - q.visible} more needed`)

  const ms = members()
  const count = (st) => ms.filter((m) => m.state === st).length
  $('#counts').textContent = `${count('alive')} alive`
  $('#counts-detail').textContent = `${count('suspect')} suspect · ${count('dead')} dead · ${count('left')} left · ${ms.length} known`

  const banner = $('#banner')
  if (!q.has) {
    banner.hidden = false
    banner.textContent =
      `${s.id} has no quorum: it sees ${q.visible} of ${q.voting} voters and needs ${q.needed}. ` +
      `If agents on the other side of a partition show a master, this node is on the minority side; it runs no masterOnly task.`
  } else banner.hidden = true

  renderMembers(ms)
  renderRing(ms)
  renderTasks()
}

function loadText(m) {
  const l = view.loads[m.id]
  if (!l) return '-'
  return `${l.running}/${l.capacity}${l.queued ? ` +${l.queued} queued` : ''}${l.stale ? ' (stale)' : ''}`
}

function renderMembers(ms) {
  const s = view.status
  const rows = ms.map((m) => {
    const role = roleOf(m)
    const tags = Object.entries(tagsOf(m)).map(([k, v]) => el('span', { class: 'tag', text: `${k}=${v}` }))
    const tr = el(
      'tr',
      { 'data-member': m.id, 'data-state': m.state, 'data-role': role, class: [m.id === s.id ? 'self' : '', view.flashed.has(m.id) ? 'flash' : ''].join(' ').trim() || null },
      el('td', { text: m.id, title: m.peerId }),
      el('td', {}, el('span', { class: `state ${m.state}`, text: m.state })),
      el('td', { text: role }),
      el('td', { text: String(m.incarnation) }),
      el('td', { class: 'wrap' }, ...tags),
      el('td', { text: loadText(m) }),
      el('td', { text: age(m.since), title: m.since }),
    )
    return tr
  })
  view.flashed.clear()
  $('#members').replaceChildren(...rows)
}

function renderRing(ms) {
  const s = view.status
  const svg = $('#ring')
  const cx = 210, cy = 210
  const r = ms.length <= 1 ? 0 : Math.min(160, 60 + ms.length * 18)
  const pos = new Map(ms.map((m, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / ms.length
    return [m.id, [cx + r * Math.cos(a), cy + r * Math.sin(a)]]
  }))
  const parts = []
  const self = pos.get(s.id)
  // Lines from this agent: solid where it sees the member alive, dashed where it does not.
  for (const m of ms) {
    if (m.id === s.id || !self) continue
    const [x, y] = pos.get(m.id)
    const color = `var(--${m.state})`
    parts.push(el('svg:line', { x1: self[0], y1: self[1], x2: x, y2: y, class: 'line', stroke: color, 'stroke-dasharray': m.state === 'alive' ? null : '5 5', opacity: 0.6 }))
  }
  for (const m of ms) {
    const [x, y] = pos.get(m.id)
    const role = roleOf(m)
    const g = el('svg:g', { 'data-node': m.id, 'data-state': m.state, 'data-role': role })
    if (role === 'master') g.append(el('svg:circle', { cx: x, cy: y, r: 31, fill: 'none', stroke: 'var(--master)', 'stroke-width': 5 }))
    g.append(el('svg:circle', {
      cx: x, cy: y, r: 24, fill: `var(--${m.state})`,
      stroke: 'var(--ink)', 'stroke-width': role === 'member' ? 1.5 : 3, 'stroke-dasharray': role === 'member' ? '3 3' : null,
    }))
    g.append(el('svg:text', { x, y: y + 5, fill: '#fff', style: 'fill:#fff;font-weight:700', text: role === 'master' ? 'M' : role === 'voter' ? 'V' : '' }))
    const below = y >= cy - 1
    g.append(el('svg:text', { x, y: below ? y + 46 : y - 38, style: m.id === s.id ? 'font-weight:700' : null, text: m.id + (m.id === s.id ? ' (me)' : '') }))
    g.append(el('svg:title', { text: `${m.id}: ${m.state}, ${role}, incarnation ${m.incarnation}` }))
    parts.push(g)
  }
  const q = s.quorum
  // A lone node sits in the middle: its caption goes below it.
  const mid = r === 0 ? cy + 80 : cy
  parts.push(el('svg:text', { x: cx, y: mid - 6, class: 'center', text: s.master ? `term ${s.master.term}` : 'no master' }))
  parts.push(el('svg:text', { x: cx, y: mid + 14, class: 'center', text: `quorum ${q.visible}/${q.voting} (need ${q.needed})` }))
  svg.replaceChildren(...parts)
}

function outcomeText(t) {
  if (!t.outcome) return ''
  if (t.outcome.error) return `${t.outcome.error}: ${t.outcome.detail || ''}`
  const r = JSON.stringify(t.outcome.result)
  return r && r.length > 40 ? r.slice(0, 37) + '...' : r || ''
}

function renderTasks() {
  const list = [...view.tasks.running, ...view.tasks.recent].slice(0, 30)
  const rows = list.map((t) =>
    el('tr', { 'data-task': t.id, 'data-state': t.state },
      el('td', { text: t.id.length > 14 ? t.id.slice(0, 8) + '…' : t.id, title: t.id }),
      el('td', { text: t.type }),
      el('td', { text: t.state }),
      el('td', { text: t.node || '-' }),
      el('td', { text: age(t.updatedAt) }),
      el('td', { class: 'wrap', text: outcomeText(t) }),
    ),
  )
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: 6, class: 'muted', text: 'no tasks on this agent' })))
  $('#tasks').replaceChildren(...rows)
}

// ---- timeline --------------------------------------------------------------------------------------------------

/** The event in words, as the agent logs it. Returns null for events not worth a line (probes). */
function describe(e) {
  switch (e.type) {
    case 'member-joined': return ['', `member ${e.member.id} joined`]
    case 'member-state': return [e.member.state === 'dead' ? 'bad' : e.member.state === 'suspect' ? 'warn' : '', `member ${e.member.id} ${e.previous} -> ${e.member.state}`]
    case 'member-removed': return ['', `member ${e.id} removed`]
    case 'master-changed': return ['master', e.master ? `master is ${e.master.id} (term ${e.master.term})` : 'no master']
    case 'became-master': return ['master', `became master (term ${e.term})`]
    case 'stepped-down': return ['bad', `stepped down as master (term ${e.term}): ${e.reason}`]
    case 'suspicion': return ['warn', `member ${e.id} suspected by ${e.by}`]
    case 'refuted': return ['warn', `refuted a suspicion of this node (incarnation ${e.incarnation})`]
    case 'flapping': return ['warn', `declared dead twice within a minute: staying out until well for ${Math.round(e.heldMs / 1000)} s`]
    case 'readmission-held': return ['warn', e.until === 'answered' ? `member ${e.id} says it is alive, but this agent's probes of it go unanswered: taken back once it answers ${e.answers} probes sent back to back` : `member ${e.id} removed twice within a minute: taken back once it has answered every probe for ${Math.round(e.heldMs / 1000)} s`]
    case 'config-changed': return ['', `voter config v${e.config.version}: ${e.config.voters.join(', ')}`]
    case 'id-conflict': return ['bad', `node id "${e.id}" is also claimed by ${e.peer}`]
    case 'left': return ['', 'left the cluster']
    case 'cluster-born': return ['master', `bootstrapped cluster ${e.clusterId} with voters ${(e.voters || []).join(', ')}`]
    case 'cluster-joined':
      if (e.reason === 'merged') return ['warn', `cluster ${e.from} merged into cluster ${e.clusterId}`]
      if (e.reason === 'recovered') return ['warn', `cluster ${e.clusterId} recovered with a new voter config`]
      return ['', `joined cluster ${e.clusterId}`]
    default: return null
  }
}

function addTimeline(e) {
  // The history and the stream overlap: each sequence number is shown once, in its place (newest first).
  const seq = typeof e.seq === 'number' ? e.seq : null
  if (seq !== null) {
    if (view.shown.has(seq)) return
    view.shown.add(seq)
  }
  const d = describe(e)
  if (!d) return
  const t = new Date(e.time || Date.now())
  const hh = (n) => String(n).padStart(2, '0')
  const li = el('li', { class: d[0] || null, 'data-event': e.type, 'data-seq': seq }, el('time', { datetime: t.toISOString(), text: `${hh(t.getHours())}:${hh(t.getMinutes())}:${hh(t.getSeconds())}` }), d[1])
  const ol = $('#timeline')
  const after = seq === null ? ol.firstElementChild : [...ol.children].find((x) => x.dataset.seq && Number(x.dataset.seq) < seq)
  ol.insertBefore(li, after || null)
  while (ol.children.length > MAX_TIMELINE) ol.lastElementChild.remove()
}

// ---- data flow -------------------------------------------------------------------------------------------------

async function refreshStatus() {
  try {
    view.status = await getJson('/v1/status')
    render()
  } catch (err) {
    setLive('lost', `cannot reach the agent: ${err.message}`)
  }
}

async function refreshInfo() {
  try {
    view.info = await getJson('/v1/info')
  } catch {
    // Older agents have no /v1/info: roles fall back to the status alone.
  }
}

async function refreshLoadAndTasks() {
  try {
    const plugins = await getJson('/v1/plugins')
    const ms = (plugins.tasks && plugins.tasks.members) || []
    view.loads = Object.fromEntries(ms.filter((m) => m.load).map((m) => [m.id, m.load]))
  } catch {
    view.loads = {}
  }
  try {
    view.tasks = await getJson('/v1/tasks?limit=30')
  } catch {
    view.tasks = { running: [], recent: [] }
  }
  render()
}

/** The agent's recent events (it keeps the last 200), so the timeline starts before the page was opened. */
async function loadHistory() {
  try {
    const events = await getJson('/v1/events/recent')
    // An agent restarted under us numbers from 1 again: start the timeline over.
    const newest = events.length ? events[events.length - 1].seq : 0
    if (newest < Math.max(0, ...view.shown)) {
      view.shown.clear()
      $('#timeline').replaceChildren()
    }
    for (const e of events) addTimeline(e)
  } catch {
    // An agent without the history: the timeline starts now.
  }
}

let statusTimer = null
function refreshSoon() {
  clearTimeout(statusTimer)
  statusTimer = setTimeout(refreshStatus, 250)
}

/** Apply a member or master event to the page at once; the status fetch that follows confirms it. */
function apply(e) {
  const s = view.status
  if (!s) return
  if (e.type === 'member-joined' || e.type === 'member-state') {
    const m = e.member
    const known = s.members.find((x) => x.id === m.id)
    const next = { ...(known || {}), id: m.id, peerId: m.peer, state: m.state, incarnation: m.incarnation, addrs: m.addrs, since: m.since }
    if (m.tags) next.tags = m.tags
    s.members = known ? s.members.map((x) => (x.id === m.id ? next : x)) : [...s.members, next]
    view.flashed.add(m.id)
  } else if (e.type === 'member-removed') {
    s.members = s.members.filter((x) => x.id !== e.id)
  } else if (e.type === 'master-changed') {
    s.master = e.master
  } else return
  render()
}

function setLive(state, title) {
  const p = $('#live')
  p.dataset.live = state
  p.textContent = state === 'live' ? 'live' : state === 'lost' ? 'disconnected' : 'connecting'
  p.title = title || ''
}

function connect() {
  const es = new EventSource('/v1/events')
  es.onopen = () => {
    setLive('live', 'following /v1/events')
    // Whatever happened while disconnected is in the status and the agent's recent events.
    loadHistory()
    refreshInfo().then(refreshStatus)
  }
  es.onerror = () => setLive('lost', 'event stream interrupted; reconnecting')
  es.onmessage = () => {}
  const types = ['member-joined', 'member-state', 'member-removed', 'master-changed', 'became-master', 'stepped-down', 'suspicion', 'refuted', 'flapping', 'readmission-held', 'config-changed', 'id-conflict', 'left', 'cluster-born', 'cluster-joined']
  for (const type of types) {
    es.addEventListener(type, (msg) => {
      let e
      try {
        e = JSON.parse(msg.data)
      } catch {
        return
      }
      addTimeline(e)
      apply(e)
      if (type === 'config-changed' || type.startsWith('cluster-')) refreshInfo().then(render)
      refreshSoon()
    })
  }
}

async function main() {
  await refreshInfo()
  await refreshStatus()
  await refreshLoadAndTasks()
  connect()
  setInterval(refreshLoadAndTasks, POLL_MS)
  // Ages ("3s ago") move on their own; a full status every 10 s repairs anything an event could not say.
  setInterval(render, 1000)
  setInterval(() => refreshInfo().then(refreshStatus), 10_000)
}

main()
