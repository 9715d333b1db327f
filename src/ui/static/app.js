// gitfleet's web UI: one plain script, no framework, no build step.
// It follows the server's event stream (/events, see src/ui/events.ts): a `snapshot` of every
// section's rows, then `patch` events with the rows that changed. Views are drawn from those rows;
// a unit's file, journal and systemd properties come from /api/units/NAME. Nothing here writes.
'use strict';

(() => {
  const SECTIONS = ['summary', 'machines', 'units', 'rollouts'];
  const data = {};
  for (const s of SECTIONS) data[s] = new Map();
  const view = document.getElementById('view');
  const conn = document.getElementById('conn');
  let connected = false;
  let lastChange = null;
  let route = null; // the route the skeleton in #view was built for
  let filter = '';
  /** The open unit page's details: { name, rowJson, result }. */
  let detail = null;

  // ---- DOM helpers (text only: nothing from the cluster is ever parsed as HTML) ----

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else el.setAttribute(k, v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }
  const short = (hash) => (hash ? hash.slice(0, 12) : '');
  const state = (s) => (s ? h('span', { class: `st-${s}` }, s) : h('span', { class: 'muted' }, '-'));
  const unitLink = (name) => h('a', { href: `#/units/${encodeURIComponent(name)}` }, name);
  const machineLink = (id) => h('a', { href: `#/machines/${encodeURIComponent(id)}` }, id);
  /** Machine ids (often 32 hex digits) shortened as fleetctl does; the full id in a tooltip. */
  const machineShort = (id) =>
    h('a', { href: `#/machines/${encodeURIComponent(id)}`, title: id }, id.length > 16 ? `${id.slice(0, 12)}…` : id);
  // A cell's content in one span: on a phone the cell is a two-column grid (label, value).
  const td = (label, ...content) => h('td', { 'data-label': label }, h('span', {}, ...content));
  /** A cell holding one state word: never broken inside the word. */
  const tdWord = (label, ...content) => h('td', { 'data-label': label, class: 'word' }, h('span', {}, ...content));
  const table = (heads, rows) => h('table', {}, h('thead', {}, h('tr', {}, heads.map((x) => h('th', {}, x)))), h('tbody', {}, rows));
  const facts = (pairs) => h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  const fill = (el, ...content) => el && el.replaceChildren(...content.flat(Infinity).filter((c) => c !== null && c !== undefined));
  const summary = () => data.summary.get('cluster') || null;
  const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

  // ---- the stream ----

  function setConn(up) {
    connected = up;
    const s = summary();
    conn.className = up && (!s || s.live) ? '' : 'down';
    const when = lastChange ? ` · last change ${lastChange.toLocaleTimeString()}` : '';
    if (!up) conn.textContent = 'disconnected: reconnecting…';
    else if (s && s.error) conn.textContent = `cannot read the cluster (retrying): ${s.error}`;
    else if (s && !s.live) conn.textContent = `live, re-reading the cluster${when}`;
    else conn.textContent = `live${when}`;
  }

  function connect() {
    const es = new EventSource('events');
    es.addEventListener('snapshot', (e) => {
      const d = JSON.parse(e.data);
      for (const s of SECTIONS) data[s] = new Map(Object.entries(d[s] || {}));
      setConn(true);
      render();
    });
    es.addEventListener('patch', (e) => {
      const d = JSON.parse(e.data);
      for (const [s, p] of Object.entries(d)) {
        const m = data[s];
        if (!m) continue;
        for (const [id, row] of Object.entries(p.upsert || {})) m.set(id, row);
        for (const id of p.remove || []) m.delete(id);
      }
      lastChange = new Date();
      setConn(true);
      render();
    });
    es.onopen = () => setConn(true);
    es.onerror = () => {
      setConn(false);
      // The browser retries by itself unless the server refused the stream (401, 503).
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    };
  }

  let drawPending = false;
  function render() {
    if (drawPending) return;
    drawPending = true;
    setTimeout(() => {
      drawPending = false;
      draw();
    }, 20);
  }

  function parseRoute() {
    const m = /^#\/(units|machines)\/(.+)$/.exec(location.hash);
    if (!m) return { kind: 'overview', key: 'overview' };
    let id;
    try {
      id = decodeURIComponent(m[2]);
    } catch {
      return { kind: 'overview', key: 'overview' };
    }
    return { kind: m[1] === 'units' ? 'unit' : 'machine', id, key: `${m[1]}/${id}` };
  }

  function draw() {
    const r = parseRoute();
    if (!route || route.key !== r.key) {
      route = r;
      detail = null;
      fill(view, skeleton(r));
      window.scrollTo(0, 0);
    }
    if (r.kind === 'overview') drawOverview();
    else if (r.kind === 'unit') drawUnit(r.id);
    else drawMachine(r.id);
    setConn(connected);
  }

  function section(id, title, ...extra) {
    return h('section', { id }, h('h2', {}, title), extra, h('div', { class: 'body' }));
  }
  const body = (id) => document.querySelector(`#${id} > .body`);

  function skeleton(r) {
    if (r.kind === 'overview') {
      const input = h('input', { type: 'search', placeholder: 'filter units by name', 'aria-label': 'filter units by name' });
      input.value = filter;
      input.addEventListener('input', () => {
        filter = input.value.trim();
        drawUnits();
      });
      return [
        section('s-commit', 'Commit'),
        section('s-rollouts', 'Rollouts'),
        section('s-machines', 'Machines'),
        section('s-units', 'Units', h('div', { class: 'filter' }, input)),
      ];
    }
    if (r.kind === 'unit')
      return [
        h('p', {}, h('a', { href: '#/' }, '← overview')),
        h('h2', { class: 'unit-title' }, r.id),
        h('div', { id: 'u-facts' }),
        section('u-status', 'Status'),
        section('u-file', 'Unit file'),
        section('u-journal', 'Recent journal'),
      ];
    return [
      h('p', {}, h('a', { href: '#/' }, '← overview')),
      h('h2', {}, `Machine ${r.id}`),
      h('div', { id: 'm-facts' }),
      section('m-units', 'Units on this machine'),
    ];
  }

  // ---- overview ----

  function drawOverview() {
    drawCommit();
    drawRollouts();
    drawMachines();
    drawUnits();
  }

  function drawCommit() {
    const s = summary();
    if (!s) return fill(body('s-commit'), h('p', { class: 'empty' }, 'reading the cluster…'));
    const u = s.units;
    const out = [
      facts([
        ['Applied', s.applied ? [h('code', {}, short(s.applied.commit)), ` at ${s.applied.at}`] : 'no commit applied yet'],
        ['Engine leader', s.leader || h('span', { class: 'flag' }, 'none (no engine is running)')],
        ['Machines', String(s.machines)],
        [
          'Units',
          [
            `${u.launched} launched, ${u.loaded} loaded, ${u.inactive} inactive, `,
            u.failed ? h('span', { class: 'st-failed' }, `${u.failed} failed`) : '0 failed',
          ],
        ],
      ]),
    ];
    if (s.refused) {
      const r = s.refused;
      out.push(
        h(
          'div',
          { class: 'box bad refused', role: 'alert' },
          h('p', {}, h('span', { class: 'label' }, 'Refused'), ' commit ', h('code', {}, short(r.commit)), ` at ${r.at}: ${r.reason}`),
          r.diagnostics.length
            ? h('ul', { class: 'diags' }, r.diagnostics.map((d) => h('li', {}, h('code', {}, `${d.file}:${d.line}:${d.column}`), ` ${d.severity} ${d.rule}: ${d.message}`)))
            : null,
          h('p', { class: 'muted' }, 'The applied commit above stays in force.'),
        ),
      );
    }
    if (s.problems.length)
      out.push(
        h(
          'div',
          { class: 'box bad' },
          h('p', {}, h('span', { class: 'label' }, 'Unreadable'), ` ${s.problems.length} stored record(s) could not be read and are left out:`),
          h('ul', { class: 'diags' }, s.problems.map((p) => h('li', {}, h('code', {}, p.key), `: ${p.problem}`))),
        ),
      );
    fill(body('s-commit'), out);
  }

  function drawRollouts() {
    const rows = [...data.rollouts.values()];
    if (rows.length === 0) return fill(body('s-rollouts'), h('p', { class: 'empty' }, 'no rollout record'));
    const first = rows[0];
    // Readable without colour: every state is a word; a failure says why.
    const machines = (r) =>
      r.machines.map((m) =>
        h('div', { 'data-machine': m.machine }, machineLink(m.machine), ` ${m.state}`, m.reason ? ` (${m.reason})` : ''),
      );
    fill(
      body('s-rollouts'),
      h(
        'p',
        { class: 'rollout-state', 'data-state': first.state },
        'commit ',
        h('code', {}, short(first.commit)),
        `: ${first.state}`,
        first.reason ? ` — ${first.reason}` : '',
      ),
      table(
        ['Unit', 'Change', 'Progress', 'Machines'],
        rows.map((r) =>
          h(
            'tr',
            { 'data-unit': r.unit },
            td('Unit', r.unit),
            tdWord('Change', r.change),
            td('Progress', r.progress),
            td('Machines', machines(r)),
          ),
        ),
      ),
    );
  }

  function drawMachines() {
    const rows = [...data.machines.values()].sort((a, b) => byName(a.id, b.id));
    if (rows.length === 0) return fill(body('s-machines'), h('p', { class: 'empty' }, 'no machine is registered'));
    fill(
      body('s-machines'),
      table(
        ['Machine', 'Address', 'Metadata', 'Units'],
        rows.map((m) =>
          h(
            'tr',
            { 'data-machine': m.id },
            td('Machine', machineLink(m.id)),
            td('Address', m.address),
            td('Metadata', metadataText(m.metadata)),
            td('Units', unitCounts(m)),
          ),
        ),
      ),
    );
  }

  const metadataText = (md) => Object.entries(md).map(([k, v]) => `${k}=${v}`).join(', ') || h('span', { class: 'muted' }, 'none');
  const unitCounts = (m) => [
    `${m.units} unit${m.units === 1 ? '' : 's'}, ${m.active} active`,
    m.failed ? [', ', h('span', { class: 'st-failed' }, `${m.failed} failed`)] : '',
  ];

  /** Drift on one machine: content other than the commit's, and restarts after failures. */
  function driftText(row, p) {
    const parts = [];
    if (p.outdated) parts.push(h('span', { class: 'flag' }, `outdated: commit has ${short(row.hash)}`));
    if (p.driftRepairs) parts.push(h('span', { class: 'flag' }, `restarted ${p.driftRepairs}× after failing`));
    if (!p.scheduled && !row.global && row.desired) parts.push(h('span', { class: 'flag' }, 'not placed here'));
    if (parts.length === 0) return h('span', { class: 'muted' }, 'none');
    return parts.flatMap((x, i) => (i ? ['; ', x] : [x]));
  }

  /** Where a unit on no machine is, in words. */
  function nowhere(row) {
    if (row.unscheduled) return h('span', { class: 'flag' }, `none: ${row.unscheduled}`);
    if (row.desired === 'inactive') return h('span', { class: 'muted' }, 'none (inactive)');
    if (row.global) return h('span', { class: 'muted' }, 'every matching machine (Global)');
    return h('span', { class: 'muted' }, 'not placed yet');
  }

  function unitTrs(row, opts) {
    const desired = row.desired ? row.desired : h('span', { class: 'flag', title: 'not in the applied commit' }, 'removed');
    const placements = opts.machine ? row.machines.filter((p) => p.machine === opts.machine) : row.machines;
    if (placements.length === 0)
      return [
        h(
          'tr',
          { 'data-unit': row.name },
          opts.omitUnit ? null : td('Unit', unitLink(row.name)),
          tdWord('Desired', desired),
          opts.machine ? null : td('Machine', nowhere(row)),
          tdWord('Load', state(null)),
          tdWord('Active', state(null)),
          tdWord('Sub', state(null)),
          td('Hash', h('span', { class: 'hash' }, short(row.hash))),
          td('Drift', h('span', { class: 'muted' }, 'none')),
        ),
      ];
    return placements.map((p) =>
      h(
        'tr',
        { 'data-unit': row.name, 'data-machine': p.machine },
        opts.omitUnit ? null : td('Unit', unitLink(row.name)),
        tdWord('Desired', desired),
        opts.machine ? null : td('Machine', machineShort(p.machine)),
        tdWord('Load', state(p.load)),
        tdWord('Active', state(p.active)),
        tdWord('Sub', state(p.sub)),
        td('Hash', h('span', { class: 'hash' }, p.hash === null ? '' : short(p.hash) || '?')),
        td('Drift', driftText(row, p)),
      ),
    );
  }

  const UNIT_HEADS = ['Unit', 'Desired', 'Machine', 'Load', 'Active', 'Sub', 'Hash', 'Drift'];

  function drawUnits() {
    const all = [...data.units.values()];
    const rows = all.filter((u) => !filter || u.name.includes(filter)).sort((a, b) => byName(a.name, b.name));
    if (all.length === 0) return fill(body('s-units'), h('p', { class: 'empty' }, 'no units'));
    if (rows.length === 0) return fill(body('s-units'), h('p', { class: 'empty' }, `no unit name contains "${filter}"`));
    fill(body('s-units'), table(UNIT_HEADS, rows.map((u) => unitTrs(u, {}))));
  }

  // ---- one unit ----

  function drawUnit(name) {
    const row = data.units.get(name) || null;
    const rowJson = JSON.stringify(row);
    if (!detail || detail.name !== name || detail.rowJson !== rowJson) {
      detail = { name, rowJson, result: detail && detail.name === name ? detail.result : null };
      fetchDetail(name, detail);
    }
    if (!row) {
      fill(document.getElementById('u-facts'), h('p', { class: 'box bad' }, `No unit ${name}: it is not in the applied commit and no machine reports it.`));
      fill(body('u-status'));
    } else {
      fill(
        document.getElementById('u-facts'),
        facts([
          ['Desired state', row.desired || h('span', { class: 'flag' }, 'removed (not in the applied commit)')],
          ['Hash', h('span', { class: 'hash' }, row.hash || '-')],
          ['Placement', row.machines.length ? row.machines.map((p) => p.machine).join(', ') : nowhere(row)],
          row.triggers ? ['Starts', unitLink(row.triggers)] : null,
        ]),
      );
      fill(body('u-status'), table(UNIT_HEADS.filter((x) => x !== 'Unit'), unitTrs(row, { omitUnit: true })), h('div', { id: 'u-props' }));
    }
    drawDetail();
  }

  async function fetchDetail(name, forDetail) {
    let result;
    try {
      const res = await fetch(`api/units/${encodeURIComponent(name)}`, { cache: 'no-store' });
      const json = await res.json();
      result = res.ok ? json : { error: json.error || `HTTP ${res.status}` };
    } catch (e) {
      result = { error: `could not ask the server: ${e.message}` };
    }
    if (detail !== forDetail) return; // the page moved on
    detail.result = result;
    drawDetail();
  }

  function drawDetail() {
    const r = detail && detail.result;
    if (!r) {
      fill(body('u-file'), h('p', { class: 'empty' }, 'loading…'));
      fill(body('u-journal'), h('p', { class: 'empty' }, 'loading…'));
      return;
    }
    if (r.error) {
      fill(body('u-file'), h('p', { class: 'empty' }, r.error));
      fill(body('u-journal'));
      return;
    }
    fill(body('u-file'), r.body.text !== undefined ? h('pre', { class: 'unit-file' }, r.body.text) : h('p', { class: 'empty' }, r.body.unavailable));
    const j = r.journal;
    fill(
      document.getElementById('u-props'),
      r.properties ? [h('h3', {}, `systemd on ${r.machine}`), facts(Object.entries(r.properties))] : null,
    );
    fill(
      body('u-journal'),
      j.lines
        ? j.lines.length
          ? [h('p', { class: 'muted' }, `on ${r.machine}`), h('pre', { class: 'journal' }, j.lines.join('\n'))]
          : h('p', { class: 'empty' }, 'no journal lines')
        : h('p', { class: 'empty' }, `not available: ${j.unavailable}`),
    );
  }

  // ---- one machine ----

  function drawMachine(id) {
    const m = data.machines.get(id);
    if (!m) {
      fill(document.getElementById('m-facts'), h('p', { class: 'box bad' }, `No machine ${id} is registered.`));
      fill(body('m-units'));
      return;
    }
    fill(
      document.getElementById('m-facts'),
      facts([
        ['Address', m.address],
        ['Metadata', metadataText(m.metadata)],
        ['Units', unitCounts(m)],
        ['Agent', `gitfleet ${m.version}, started ${m.startedAt}`],
      ]),
    );
    const rows = [...data.units.values()].filter((u) => u.machines.some((p) => p.machine === id)).sort((a, b) => byName(a.name, b.name));
    fill(
      body('m-units'),
      rows.length ? table(UNIT_HEADS.filter((x) => x !== 'Machine'), rows.map((u) => unitTrs(u, { machine: id }))) : h('p', { class: 'empty' }, 'no units'),
    );
  }

  window.addEventListener('hashchange', render);
  connect();
  render();
})();
