// What the page holds, and how events change it. The server is the truth:
// an event never gets applied to a stage here (no reducer in the browser);
// it only says *that* something changed, and the page asks the server for
// the state again. Events are applied idempotently: one whose (pipeline,
// seq) is not newer than what the page holds is ignored, and a gap (a seq
// that jumps) refetches. While the user looks at the past, events move the
// slider's end and grow the history, never the past state on screen.
import { api, enc, ApiError } from './api.js';

export const store = {
  auth: 'unknown', // 'unknown' | 'out' | 'in'
  error: null, // the last refusal or failure, as a sentence (shown in role=alert)
  connection: 'lost', // 'live' | 'lost' (the event stream)
  pipelines: new Map(), // id -> {pipeline, name, seq, outcome, last, damage}
  loaded: false,
  open: null, // the pipeline on screen: see open_pipeline
  listeners: new Set(),
};

export function notify() {
  for (const f of store.listeners) f();
}

export function show_error(e) {
  if (e instanceof ApiError && e.status === 401 && store.auth === 'in') {
    signed_out('Signed out: ' + e.message);
    return;
  }
  store.error = e instanceof Error ? e.message : String(e);
  notify();
}

export function clear_error() {
  store.error = null;
  notify();
}

// ---------------------------------------------------------------------------
// Outcomes: one word for a pipeline, from its stages.
export function outcome_of(state) {
  if (!state || !state.stages) return 'unknown';
  const st = state.stages.map((s) => s.status);
  if (state.pending_confirmation) return 'waiting';
  if (st.length && st.every((s) => s === 'completed')) return 'completed';
  if (st.includes('running')) return 'running';
  if (st.includes('failed')) return 'failed';
  if (st.includes('cancelled')) return 'cancelled';
  return 'running';
}

// ---------------------------------------------------------------------------
// The list

const summary_wanted = new Set();
let summaries_running = 0;
const summaries_parallel = 4;

// Asks for a pipeline's outcome again (its state) after one of its events,
// a few at a time, once however often it is asked for meanwhile. The list
// itself (GET /pipelines) carries every outcome and last change, and an
// event carries its own time: no history is read to show the list.
function want_summary(id) {
  summary_wanted.add(id);
  pump_summaries();
}

function pump_summaries() {
  while (summaries_running < summaries_parallel && summary_wanted.size) {
    const id = summary_wanted.values().next().value;
    summary_wanted.delete(id);
    summaries_running++;
    summarize(id).finally(() => {
      summaries_running--;
      pump_summaries();
    });
  }
}

async function summarize(id) {
  const row = store.pipelines.get(id);
  if (!row || row.damage) return;
  try {
    const state = await api('GET', `/pipelines/${enc(id)}`);
    row.outcome = outcome_of(state);
    if (state.name) row.name = state.name;
    if (state.seq > row.seq) row.seq = state.seq;
    notify();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) show_error(e);
  }
}

export async function load_list() {
  const list = await api('GET', '/pipelines');
  store.auth = 'in';
  for (const p of list) {
    const row = store.pipelines.get(p.pipeline);
    if (row) {
      if (p.seq >= row.seq) {
        // As new as what the events said, or newer: the server's word stands.
        if (p.outcome) row.outcome = p.outcome;
        if (p.last_change) {
          row.last = p.last_change;
          row.last_seq = p.seq;
        }
      }
      row.seq = Math.max(row.seq, p.seq);
      row.name = p.name || row.name;
      row.damage = p.damage;
      if (p.damage) row.outcome = 'damaged';
    } else {
      store.pipelines.set(p.pipeline, {
        pipeline: p.pipeline,
        name: p.name,
        seq: p.seq,
        outcome: p.damage ? 'damaged' : p.outcome || null,
        last: p.last_change || null,
        last_seq: p.last_change ? p.seq : 0,
        damage: p.damage,
      });
    }
    // An older server without the fields: its state says the outcome.
    if (!p.damage && !p.outcome) want_summary(p.pipeline);
  }
  store.loaded = true;
  notify();
}

export function rows_newest_first() {
  return [...store.pipelines.values()].sort((a, b) => {
    const ta = a.last || '', tb = b.last || '';
    if (ta !== tb) return ta < tb ? 1 : -1;
    return a.pipeline < b.pipeline ? -1 : 1;
  });
}

// ---------------------------------------------------------------------------
// One pipeline

// The open pipeline: id; spec (from pipeline_created); live (the latest state
// the server gave); history (events 1..n, contiguous); past (null, or {seq,
// state}: what the slider shows); selected (a stage name).
export async function open_pipeline(id) {
  if (store.open && store.open.id === id) return;
  store.open = { id, spec: null, live: null, history: [], past: null, selected: null, loading: true };
  notify();
  await Promise.all([refresh_history(id), refresh_live(id)]);
  if (store.open && store.open.id === id) store.open.loading = false;
  notify();
}

export function close_pipeline() {
  store.open = null;
  notify();
}

async function refresh_history(id) {
  try {
    const h = await api('GET', `/pipelines/${enc(id)}/history`);
    const o = store.open;
    if (!o || o.id !== id || h.length < o.history.length) return;
    o.history = h;
    if (h.length && h[0].spec) o.spec = h[0].spec;
    notify();
  } catch (e) {
    show_error(e);
  }
}

// One state request at a time for the open pipeline; a change meanwhile asks
// again once it is answered. An answer older than what is shown is dropped
// (answers to an action may overtake it).
let live_running = false,
  live_again = false;
export async function refresh_live(id) {
  if (live_running) {
    live_again = true;
    return;
  }
  live_running = true;
  try {
    do {
      live_again = false;
      try {
        const s = await api('GET', `/pipelines/${enc(id)}`);
        take_live(id, s);
      } catch (e) {
        show_error(e);
      }
    } while (live_again && store.open && store.open.id === id);
  } finally {
    live_running = false;
  }
}

// A wait ends without an event (a worker takes the run): while one is
// shown, the state is asked for again now and then.
const wait_poll_ms = 2000;
let wait_timer = null;

export function take_live(id, s) {
  const o = store.open;
  if (o && o.id === id && (!o.live || s.seq >= o.live.seq)) {
    o.live = s;
    if (!wait_timer && s.stages && s.stages.some((x) => x.waiting))
      wait_timer = setTimeout(() => {
        wait_timer = null;
        if (store.open && store.open.id === id) refresh_live(id);
      }, wait_poll_ms);
    // Without the event stream the history would stay behind: ask for it.
    if (store.connection !== 'live' && s.seq > o.history.length) refresh_history(id);
  }
  const row = store.pipelines.get(id);
  if (row) {
    row.outcome = outcome_of(s);
    if (s.seq > row.seq) row.seq = s.seq;
  }
  notify();
}

// The slider: `seq` below the end shows the state after that event.
let past_token = 0;
export async function travel(seq) {
  const o = store.open;
  if (!o) return;
  const now = Math.max(o.history.length, o.live ? o.live.seq : 0);
  if (seq >= now) return back_to_live();
  // Until the answer comes, the last past state stays on screen, marked as loading.
  o.past = { seq, state: o.past && o.past.state, loading: true };
  notify();
  const token = ++past_token;
  try {
    const s = await api('GET', `/pipelines/${enc(o.id)}?at=${seq}`);
    if (token === past_token && store.open === o && o.past && o.past.seq === seq) {
      o.past.state = s;
      o.past.loading = false;
      notify();
    }
  } catch (e) {
    show_error(e);
  }
}

export function back_to_live() {
  const o = store.open;
  if (!o) return;
  past_token++;
  o.past = null;
  notify();
  refresh_live(o.id);
}

// ---------------------------------------------------------------------------
// Events (GET /events: one EventSource for every pipeline)

export function on_event(e) {
  if (!e || typeof e.pipeline !== 'string' || typeof e.seq !== 'number') return;
  const id = e.pipeline;
  let row = store.pipelines.get(id);
  if (!row) {
    row = { pipeline: id, name: e.spec ? e.spec.name : '', seq: 0, outcome: null, last: null, last_seq: 0 };
    store.pipelines.set(id, row);
  }
  if (e.seq > row.seq) {
    const gap = e.seq > row.seq + 1 && row.seq > 0;
    row.seq = e.seq;
    if (e.seq >= row.last_seq) {
      row.last = e.at;
      row.last_seq = e.seq;
    }
    if (e.type === 'pipeline_created' && e.spec) row.name = e.spec.name;
    // The outcome is the server's to say: ask again (coalesced).
    want_summary_state(id, gap);
  }
  const o = store.open;
  if (o && o.id === id && e.seq > o.history.length) {
    if (e.seq === o.history.length + 1) {
      o.history = [...o.history, e];
      if (e.type === 'pipeline_created' && e.spec) o.spec = e.spec;
    } else {
      refresh_history(id); // a gap: ask for all of it
    }
    // The past on screen stays as it is: only the live state follows.
    if (!o.past) refresh_live(id);
  }
  notify();
}

function want_summary_state(id, gap) {
  const row = store.pipelines.get(id);
  if (gap || !row.outcome || !store.open || store.open.id !== id) want_summary(id);
}

let source = null;
let retry_timer = null;

export function connect_events() {
  if (source) return;
  source = new EventSource('/events');
  source.onopen = () => {
    store.connection = 'live';
    notify();
  };
  source.onmessage = (m) => {
    let e;
    try {
      e = JSON.parse(m.data);
    } catch {
      show_error('the event stream sent something that is not JSON');
      return;
    }
    on_event(e);
  };
  source.onerror = () => {
    store.connection = 'lost';
    notify();
    // A dropped connection is retried by the browser itself, with
    // Last-Event-ID. A refusal (an HTTP error) closes the source for good:
    // then the page opens a new one a little later and asks for everything
    // again (the seq checks above keep each event once).
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      clearTimeout(retry_timer);
      retry_timer = setTimeout(resync, 3000);
    }
  };
}

async function resync() {
  if (store.auth !== 'in') return;
  try {
    await load_list();
    if (store.open) {
      refresh_history(store.open.id);
      if (!store.open.past) refresh_live(store.open.id);
    }
  } catch (e) {
    show_error(e);
  }
  connect_events();
}

export function disconnect_events() {
  clearTimeout(retry_timer);
  if (source) source.close();
  source = null;
  store.connection = 'lost';
}

// ---------------------------------------------------------------------------
// Signing in and out (POST /session: an HttpOnly cookie the page never sees)

export async function sign_in(token) {
  await api('POST', '/session', { token });
  store.auth = 'in';
  store.error = null;
  await load_list();
  connect_events();
}

export async function sign_out() {
  try {
    await api('POST', '/session/end', {});
  } finally {
    signed_out(null);
  }
}

function signed_out(message) {
  disconnect_events();
  store.auth = 'out';
  store.pipelines = new Map();
  store.open = null;
  store.loaded = false;
  store.error = message;
  notify();
}

// The first look: signed in already (a cookie from before), or not (401).
// Anything else (the server busy, not answering) is said and tried again.
export async function start() {
  try {
    await load_list();
    connect_events();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      store.auth = 'out';
      notify();
    } else {
      show_error(e);
      setTimeout(start, 3000);
    }
  }
}
