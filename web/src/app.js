// The web view (docs/web.md): preact components written with htm (tagged
// templates, so no JSX step). Test hooks are part of the contract (docs/
// web.md#test-hooks): data-stage / data-status on stage nodes, the slider
// input[type=range][name=seq], data-pipeline on list rows, role=alert for
// errors, data-connection="live|lost", buttons with fixed visible names.
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { api, enc } from './api.js';
import { layout, node_w, node_h } from './dag.js';
import {
  store, notify, show_error, clear_error, rows_newest_first, open_pipeline, close_pipeline, travel,
  back_to_live, take_live, sign_in, sign_out, start, outcome_of,
} from './store.js';

const html = htm.bind(h);

// Each status has a colour, a symbol and its word (never colour alone).
const symbols = {
  pending: '○', ready: '◌', running: '▶', completed: '✓', failed: '✗', cancelled: '⊘', outdated: '↻',
  waiting: '?', damaged: '!', unknown: '·',
};

function Status({ status }) {
  return html`<span class=${'badge s-' + status}><span aria-hidden="true">${symbols[status] || '·'}</span> ${status}</span>`;
}

// Local time to the millisecond: events of one run are often in one second.
function when(at) {
  if (!at) return '';
  const d = new Date(at);
  if (isNaN(d)) return at;
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:` +
    `${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function seconds(ms) {
  if (ms < 0 || !isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// Runs `f`, and shows what went wrong as text (never swallowed).
async function act(f) {
  try {
    clear_error();
    return await f();
  } catch (e) {
    show_error(e);
  }
}

// ---------------------------------------------------------------------------

function App() {
  const [, set_tick] = useState(0);
  const [route, set_route] = useState(location.hash);
  useEffect(() => {
    const f = () => set_tick((t) => t + 1);
    store.listeners.add(f);
    const r = () => set_route(location.hash);
    addEventListener('hashchange', r);
    start();
    return () => {
      store.listeners.delete(f);
      removeEventListener('hashchange', r);
    };
  }, []);
  const m = /^#\/pipelines\/(.+)$/.exec(route);
  const id = m ? decodeURIComponent(m[1]) : null;
  useEffect(() => {
    if (store.auth !== 'in') return;
    if (id) open_pipeline(id);
    else close_pipeline();
  }, [id, store.auth]);

  return html`
    <header class="top">
      <a class="brand" href="#/">Dairector</a>
      ${store.auth === 'in' &&
      html`<${Connection} />
        <button type="button" class="quiet" onClick=${() => act(sign_out)}>Sign out</button>`}
    </header>
    <${Alert} />
    <main>
      ${store.auth === 'unknown' && html`<p class="muted">Loading…</p>`}
      ${store.auth === 'out' && html`<${SignIn} />`}
      ${store.auth === 'in' && (id ? html`<${PipelineView} id=${id} />` : html`<${PipelineList} />`)}
    </main>`;
}

function Alert() {
  if (!store.error) return html`<div role="alert" class="alert empty"></div>`;
  return html`<div role="alert" class="alert">
    <span>${store.error}</span>
    <button type="button" class="quiet" onClick=${clear_error}>Dismiss</button>
  </div>`;
}

function Connection() {
  const live = store.connection === 'live';
  return html`<div class=${'connection ' + (live ? 'live' : 'lost')} data-connection=${live ? 'live' : 'lost'}>
    ${live ? '● live' : '⚠ connection lost, reconnecting…'}
  </div>`;
}

function SignIn() {
  const [token, set_token] = useState('');
  const submit = (ev) => {
    ev.preventDefault();
    act(() => sign_in(token.trim()));
  };
  return html`<form class="card signin" onSubmit=${submit}>
    <h1>Sign in</h1>
    <p>Paste the server's token: the first line of the token file <code>dairector serve</code> uses.</p>
    <label>Token <input type="password" name="token" autocomplete="current-password" value=${token}
      onInput=${(e) => set_token(e.target.value)} required /></label>
    <button type="submit">Sign in</button>
  </form>`;
}

// ---------------------------------------------------------------------------
// The list

function PipelineList() {
  const rows = rows_newest_first();
  return html`<section>
    <h1>Pipelines</h1>
    ${!store.loaded ? html`<p class="muted">Loading…</p>` : rows.length === 0
      ? html`<p class="muted">No pipelines yet: create one below.</p>`
      : html`<table class="list">
          <thead><tr><th>id</th><th>name</th><th>outcome</th><th>seq</th><th>last change</th></tr></thead>
          <tbody>
            ${rows.map((r) => html`<tr key=${r.pipeline} data-pipeline=${r.pipeline}>
              <td><a href=${'#/pipelines/' + enc(r.pipeline)}>${r.pipeline}</a></td>
              <td>${r.name}</td>
              <td>${r.outcome ? html`<${Status} status=${r.outcome} />` : html`<span class="muted">…</span>`}
                ${r.damage && html`<div class="muted">${r.damage.reason}</div>`}</td>
              <td>${r.seq}</td>
              <td>${when(r.last)}</td>
            </tr>`)}
          </tbody>
        </table>`}
    <${CreateForm} />
  </section>`;
}

function CreateForm() {
  const [spec, set_spec] = useState('');
  const [id, set_id] = useState('');
  const submit = (ev) => {
    ev.preventDefault();
    act(async () => {
      let parsed;
      try {
        parsed = JSON.parse(spec);
      } catch (e) {
        throw new Error('the spec is not JSON: ' + e.message);
      }
      const body = { spec: parsed };
      if (id.trim()) body.id = id.trim();
      const made = await api('POST', '/pipelines', body);
      set_spec('');
      set_id('');
      location.hash = '#/pipelines/' + enc(made.pipeline);
    });
  };
  return html`<form class="card create" onSubmit=${submit}>
    <h2>Create a pipeline</h2>
    <label>Spec (JSON, docs/spec.md)
      <textarea name="spec" rows="10" spellcheck="false" value=${spec} onInput=${(e) => set_spec(e.target.value)}
        placeholder='{"name": "hello", "stages": [{"name": "a", "after": [], "run": {"builtin": "echo"}}]}'
        required></textarea></label>
    <label>Id (optional: the spec's name)
      <input name="id" value=${id} onInput=${(e) => set_id(e.target.value)} /></label>
    <button type="submit">Create</button>
  </form>`;
}

// ---------------------------------------------------------------------------
// One pipeline

function PipelineView({ id }) {
  const o = store.open;
  const [, set_now] = useState(0);
  const past = o && o.past;
  const state = o ? (past ? past.state : o.live) : null;
  const running = state && state.stages && state.stages.some((s) => s.status === 'running');
  useEffect(() => {
    if (!running || past) return;
    const t = setInterval(() => set_now((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [running, !!past]);
  if (!o || o.id !== id) return html`<p class="muted">Loading…</p>`;
  // The end of the slider: the last event the page has, or a later seq an
  // answer already showed (its event is on its way).
  const now = Math.max(o.history.length, o.live ? o.live.seq : 0);
  const history = past ? o.history.slice(0, past.seq) : o.history;
  const post = (path, body) =>
    act(async () => {
      const s = await api('POST', `/pipelines/${enc(id)}${path}`, body);
      if (s && s.stages) take_live(id, s);
    });
  return html`<section class="pipeline">
    <p><a href="#/">← Pipelines</a></p>
    <div class="title">
      <h1>${(state && state.name) || id}${state && state.name !== id ? html` <span class="muted">${id}</span>` : ''}</h1>
      ${state && html`<${Status} status=${outcome_of(state)} />`}
      <span class="muted">seq ${state ? state.seq : '…'}</span>
      <span class="grow"></span>
      <button type="button" class="danger" disabled=${!!past} onClick=${() => post('/cancel', {})}>Cancel</button>
    </div>
    <${TimeTravel} o=${o} now=${now} />
    ${state && state.pending_confirmation &&
    html`<${Confirmation} c=${state.pending_confirmation} past=${!!past} post=${post} />`}
    ${!state ? html`<p class="muted">Loading…</p>`
      : html`<div class=${past && past.loading ? 'loading' : ''} aria-busy=${past && past.loading ? 'true' : 'false'}>
          <${Dag} o=${o} state=${state} history=${history} post=${post} /></div>`}
    ${state && o.selected && html`<${StagePanel} key=${o.selected} o=${o} state=${state} post=${post} />`}
    <${Rollback} o=${o} now=${now} post=${post} />
    <${History} history=${o.history} upto=${past ? past.seq : now} />
  </section>`;
}


function TimeTravel({ o, now }) {
  const value = o.past ? o.past.seq : now;
  return html`<div class=${'travel' + (o.past ? ' past' : '')}>
    <label>Time travel: seq <strong>${value}</strong> of ${now}
      <input type="range" name="seq" min="1" max=${Math.max(1, now)} value=${value}
        aria-label="seq to view" onInput=${(e) => travel(Number(e.target.value))} /></label>
    ${o.past && html`<div class="past-banner" data-past=${o.past.seq}>
      <strong>Viewing the past (seq ${o.past.seq} of ${now})</strong>
      <span>The stages as they were right after event ${o.past.seq}. New events still extend the slider and the
      history; this view stays put until you move.</span>
      <button type="button" onClick=${back_to_live}>Back to live</button>
    </div>`}
  </div>`;
}

function Confirmation({ c, past, post }) {
  const [note, set_note] = useState('');
  return html`<div class="card confirm" data-confirmation=${c.stage}>
    <p><strong>Waiting for confirmation</strong> (stage ${c.stage}, asked at seq ${c.requested_seq}):</p>
    <p class="question">${c.message}</p>
    ${!past && html`<label>Note (optional) <input name="note" value=${note} onInput=${(e) => set_note(e.target.value)} /></label>
      <div class="buttons">
        <button type="button" onClick=${() => post('/confirm', { note })}>Confirm</button>
        <button type="button" class="danger" onClick=${() => post('/reject', { note })}>Reject</button>
      </div>`}
  </div>`;
}

// When the live run of each stage started and ended, from the history.
function run_times(history) {
  const started = new Map(), ended = new Map();
  for (const e of history) {
    if (e.type === 'stage_started') started.set(e.run, e.at);
    else if (e.run && ['stage_completed', 'stage_failed', 'stage_cancelled', 'stage_interrupted'].includes(e.type))
      ended.set(e.run, e.at);
    else if (e.type === 'stage_cancelled' && e.stage === null) {
      for (const r of started.keys()) if (!ended.has(r)) ended.set(r, e.at);
    }
  }
  return { started, ended };
}

function Dag({ o, state, history, post }) {
  const spec = o.spec ? o.spec.stages : state.stages.map((s) => ({ name: s.name, after: [] }));
  const { pos, edges, width, height } = layout(spec);
  const by_name = new Map(state.stages.map((s) => [s.name, s]));
  const { started, ended } = run_times(history);
  const last_at = history.length ? Date.parse(history[history.length - 1].at) : Date.now();
  const now_ms = o.past ? last_at : Date.now();
  return html`<div class="dag-scroll"><div class="dag" style=${{ width: width + 'px', height: height + 'px' }}>
    <svg width=${width} height=${height} aria-hidden="true">
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="4" refY="5" markerWidth="8" markerHeight="8" orient="auto">
        <path d="M0,0 L10,5 L0,10 z" class="arrowhead" /></marker></defs>
      ${edges.map((e) => html`<path key=${e.from + '>' + e.to} d=${e.d} class="edge" marker-end="url(#arrow)"
        data-edge=${e.from + '>' + e.to} />`)}
    </svg>
    ${spec.map((sp, i) => {
      const s = by_name.get(sp.name) || { name: sp.name, status: 'pending', run: null, attempt: 0 };
      const start = s.run != null ? started.get(s.run) : null;
      const end = s.run != null ? ended.get(s.run) : null;
      const elapsed = start
        ? seconds((end ? Date.parse(end) : s.status === 'running' ? now_ms : NaN) - Date.parse(start))
        : '';
      const selected = o.selected === sp.name;
      const asking = state.pending_confirmation && state.pending_confirmation.stage === sp.name;
      return html`<div key=${sp.name} class=${'node s-' + s.status + (selected ? ' selected' : '') + (asking ? ' asking' : '')}
        data-stage=${sp.name} data-status=${s.status}
        style=${{ left: pos[i].x + 'px', top: pos[i].y + 'px', width: node_w + 'px', height: node_h + 'px' }}>
        <button type="button" class="node-name" aria-pressed=${selected}
          onClick=${() => { o.selected = selected ? null : sp.name; notify(); }}>${sp.name}</button>
        <${Status} status=${s.status} />
        <div class="node-meta">run ${s.run ?? '–'} · attempt ${s.attempt}${elapsed && ' · ' + elapsed}</div>
        ${asking && html`<div class="node-ask">? waiting for confirmation</div>`}
        ${s.waiting && !o.past && s.status === 'running' &&
        html`<div class="node-wait" data-waiting=${s.waiting.for} title=${s.waiting.reason + ' (since ' + s.waiting.since + ')'}>
          <span aria-hidden="true">⧗</span> waiting for a ${s.waiting.for}: ${s.waiting.reason}</div>`}
        ${s.status === 'running' && !o.past &&
        html`<button type="button" class="danger small" onClick=${() => post('/cancel', { stage: sp.name })}>Cancel</button>`}
      </div>`;
    })}
  </div></div>`;
}

function Json({ value }) {
  return html`<pre class="json">${value === undefined ? '—' : JSON.stringify(value, null, 2)}</pre>`;
}

function StagePanel({ o, state, post }) {
  const s = state.stages.find((x) => x.name === o.selected);
  const spec_stage = o.spec && o.spec.stages.find((x) => x.name === o.selected);
  const [context, set_context] = useState(null);
  if (!s) return null;
  // What the stage's run receives (docs/spec.md): its context and its
  // upstream stages' outputs.
  const inputs = {};
  for (const a of (spec_stage && spec_stage.after) || []) {
    const up = state.stages.find((x) => x.name === a);
    inputs[a] = up ? up.output : null;
  }
  const input = { context: s.context ?? {}, inputs };
  const ctx_text = context ?? JSON.stringify(s.context ?? {}, null, 2);
  const invalidate = (ev) => {
    ev.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(ctx_text);
    } catch (e) {
      show_error('the context is not JSON: ' + e.message);
      return;
    }
    post(`/stages/${enc(s.name)}/context`, { context: parsed });
  };
  return html`<div class="card panel" data-panel=${s.name}>
    <div class="title"><h2>Stage ${s.name}</h2><${Status} status=${s.status} />
      <span class="grow"></span>
      <button type="button" class="quiet" onClick=${() => { o.selected = null; notify(); }}>Close</button></div>
    <p class="muted">run ${s.run ?? '–'} · attempt ${s.attempt}
      ${s.outdated_by ? ` · outdated by ${s.outdated_by}` : ''}${s.reruns !== undefined ? ` · reruns ${s.reruns}` : ''}</p>
    ${s.error && html`<p class="error-text">Error: ${s.error}</p>`}
    <div class="io">
      <div><h3>Input</h3><${Json} value=${input} /></div>
      <div><h3>Output</h3><${Json} value=${s.output} /></div>
    </div>
    ${!o.past && html`<form class="invalidate" onSubmit=${invalidate}>
      <label>Context (JSON): a new context makes every stage after this one run again
        <textarea name="context" rows="4" spellcheck="false" value=${ctx_text}
          onInput=${(e) => set_context(e.target.value)}></textarea></label>
      <div class="buttons">
        <button type="submit">Invalidate</button>
        ${s.status === 'running' && html`<button type="button" class="danger" onClick=${() => post('/cancel', { stage: s.name })}>Cancel</button>`}
      </div>
    </form>`}
  </div>`;
}

function Rollback({ o, now, post }) {
  const [to, set_to] = useState('');
  const value = to !== '' ? to : String(o.past ? o.past.seq : Math.max(1, now - 1));
  const submit = (ev) => {
    ev.preventDefault();
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) return show_error('Rollback needs a seq: a whole number from 1');
    post('/rollback', { to: n }).then(() => {
      set_to('');
      if (o.past) back_to_live();
    });
  };
  return html`<form class="card rollback" onSubmit=${submit}>
    <label>Roll back to seq <input type="number" name="to" min="1" max=${now} value=${value}
      onInput=${(e) => set_to(e.target.value)} /></label>
    <button type="submit">Rollback</button>
    <span class="muted">The stages return to what they were right after that event; the history keeps everything.</span>
  </form>`;
}

function detail(e) {
  const parts = [];
  if (e.stage !== undefined) parts.push(e.stage === null ? 'the whole pipeline' : `stage ${e.stage}`);
  if (e.run !== undefined) parts.push(`run ${e.run}`);
  if (e.type === 'pipeline_created' && e.spec) parts.push(`spec ${e.spec.name}: ${e.spec.stages.length} stages`);
  if (e.outcome !== undefined) parts.push(`discarded ${e.outcome}`);
  if (e.error !== undefined) parts.push(`error: ${e.error}`);
  if (e.message !== undefined) parts.push(`“${e.message}”`);
  if (e.approved !== undefined) parts.push(e.approved ? 'approved' : 'rejected');
  if (e.note) parts.push(`note: ${e.note}`);
  if (e.to !== undefined) parts.push(`to seq ${e.to}`);
  if (e.rerun !== undefined) parts.push(`rerun ${e.rerun}`);
  if (e.context !== undefined) parts.push(`context ${short(e.context)}`);
  if (e.output !== undefined) parts.push(`output ${short(e.output)}`);
  return parts.join(' · ');
}

function short(v) {
  const t = JSON.stringify(v);
  return t.length > 120 ? t.slice(0, 117) + '…' : t;
}

function History({ history, upto }) {
  const rows = history.slice().reverse();
  return html`<section class="history">
    <h2>History</h2>
    <div class="table-scroll"><table>
      <thead><tr><th>seq</th><th>time</th><th>by</th><th>type</th><th>detail</th></tr></thead>
      <tbody>${rows.map((e) => html`<tr key=${e.seq} data-seq=${e.seq} class=${e.seq > upto ? 'later' : ''}>
        <td>${e.seq}</td><td>${when(e.at)}</td><td>${e.by}</td><td>${e.type}</td><td>${detail(e)}</td></tr>`)}
      </tbody></table></div>
  </section>`;
}

render(html`<${App} />`, document.getElementById('app'));
