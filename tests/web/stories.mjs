// The web view's stories (docs/web.md) in headless Chromium, driven by
// playwright-core, against a real `dairector serve` with a real worker
// process. Each story asserts what a person sees, through the page's hooks
// (data-stage / data-status on each stage node, data-pipeline on each list
// row, input[name=seq] for time travel, role=alert for errors,
// data-connection for the event stream) and visible text.
//
//   node tests/web/stories.mjs DAIRECTOR_BIN EXAMPLES_DIR [SCREENSHOT_DIR]
//
// Prints "ok NAME" or "FAIL NAME: why" per check and exits 1 if any failed.
// No story waits by sleeping: each waits for what it expects, with a bound.
// Races are made deterministic by commands that hold until the test
// releases them (a file appears).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [bin_arg, examples_arg, shots_arg = ''] = process.argv.slice(2);
if (!bin_arg || !examples_arg) {
  console.error('usage: node stories.mjs DAIRECTOR_BIN EXAMPLES_DIR [SCREENSHOT_DIR]');
  process.exit(2);
}
const bin = path.resolve(bin_arg), examples = path.resolve(examples_arg), shots = shots_arg && path.resolve(shots_arg);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dairector-web-'));
const token = 'a-browser-token-of-32-characters';
fs.writeFileSync(path.join(tmp, 'token'), token + '\n', { mode: 0o600 });
fs.copyFileSync(path.join(examples, 'analyze.sh'), path.join(tmp, 'analyze.sh'));
const bound = 30_000;  // the longest any check waits for what it expects

let passed = 0, failed = 0;
const ok = (name) => { passed++; console.log(`ok   ${name}`); };
// The first line of why, and the locator a Playwright timeout was waiting for.
const bad = (name, why) => {
  failed++;
  const lines = String(why).split('\n');
  const waiting = lines.find((l) => /waiting for/.test(l));
  console.log(`FAIL ${name}: ${lines[0]}${waiting ? ' (' + waiting.trim() + ')' : ''}`);
};
async function check(name, fn) {
  try {
    await fn();
    ok(name);
  } catch (e) {
    bad(name, e && e.message ? e.message : e);
  }
}
const fail = (why) => { throw new Error(why); };

// ---------------------------------------------------------------------------
// The server and its worker: real processes.

const held = (name) => path.join(tmp, `${name}.release`);
// A stage command that holds until the test creates its release file (at
// most a minute), then prints its output.
const holding = (name, output) => ({
  command: ['sh', '-c', `i=0; while [ ! -e ${held(name)} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; echo '${JSON.stringify(output)}'`],
});
const specs = {
  example: JSON.parse(fs.readFileSync(path.join(examples, 'dairector.json'), 'utf8')),
  slow: {
    name: 'slow', stages: [
      { name: 'prepare', after: [], run: { builtin: 'echo' } },
      { name: 'long', after: ['prepare'], run: holding('long', { long: 1 }) },
      { name: 'after', after: ['long'], run: { builtin: 'echo' } },
    ],
  },
  // side's confirmation (asked once side's command, held until the test
  // releases it, has finished) blocks every start (the global lock), and
  // side is not downstream of middle, so an invalidation of middle keeps it:
  // the stages it outdates stay outdated, on the page, until Confirm is
  // pressed; then they run again.
  chain: {
    name: 'chain', stages: [
      { name: 'first', after: [], run: { builtin: 'echo' } },
      { name: 'middle', after: ['first'], run: { builtin: 'echo' } },
      { name: 'left', after: ['middle'], run: { builtin: 'echo' } },
      { name: 'right', after: ['middle'], run: { builtin: 'echo' } },
      { name: 'end', after: ['left', 'right'], run: { builtin: 'echo' } },
      { name: 'side', after: [], run: holding('side', { side: 1 }), confirm: 'Go on?' },
    ],
  },
};
const stage_names = [...new Set(Object.values(specs).flatMap((s) => s.stages.map((x) => x.name)))];

const children = new Set();
function start(args, log) {
  const out = fs.openSync(path.join(tmp, log), 'a');
  const child = spawn(bin, args, { cwd: tmp, stdio: ['ignore', out, out] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
async function wait_for(what, fn, ms = bound) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
// Whether a process whose command line names `marker` still runs (a held
// command waits on its release file, whose path is in its command line).
function command_alive(marker) {
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) return true;
    } catch { /* gone meanwhile */ }
  }
  return false;
}
const log_of = (name) => { try { return fs.readFileSync(path.join(tmp, name), 'utf8'); } catch { return ''; } };

let server = null, base = '', http_port = 0, worker_port = 0;
async function start_server() {
  const log = `serve-${Date.now()}.log`;
  // The same ports after a restart, so that the open page reconnects to it.
  server = start(['serve', '--journal', path.join(tmp, 'journal.db'), '--token-file', path.join(tmp, 'token'),
    '--listen', `127.0.0.1:${worker_port}`, '--http', `127.0.0.1:${http_port}`, '--workdir', tmp,
    '--remote-stages', 'all', '--heartbeat-ms', '200',
    // A worker stopped on purpose (the cancel story) is not taken for dead.
    '--worker-timeout-ms', '60000'], log);
  await wait_for('the server to be ready', () => log_of(log).includes('dairector serve: ready'));
  // The page is opened at the address serve prints for it.
  const printed = log_of(log).match(/web view: (http:\/\/127\.0\.0\.1:(\d+))\//);
  if (!printed) fail(`serve printed no web view address: ${log_of(log).slice(-300)}`);
  [, base] = printed;
  http_port = Number(printed[2]);
  worker_port = Number(log_of(log).match(/workers on 127\.0\.0\.1:(\d+)/)[1]);
}
let worker = null;
function start_worker() {
  worker = start(['worker', '--connect', `127.0.0.1:${worker_port}`, '--token-file', path.join(tmp, 'token'),
    '--stages', stage_names.join(','), '--name', 'browser-tests', '--heartbeat-ms', '200'], 'worker.log');
}
// The API as a client with the token (to set things up and to check what the
// server holds, beside what the page shows).
async function api(method, route, body) {
  const res = await fetch(base + route, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

// ---------------------------------------------------------------------------
// The page.

const stage = (page, name) => page.locator(`[data-stage="${name}"]`);
const status_of = (page, name) => stage(page, name).getAttribute('data-status', { timeout: bound });
async function status_is(page, name, want) {
  await page.locator(`[data-stage="${name}"][data-status="${want}"]`).waitFor({ timeout: bound });
}
async function sign_in(page, with_token = token) {
  await page.goto(base + '/');
  await page.locator('input[name=token]').fill(with_token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
// The pipeline's page, from its row in the list (the list is shown first).
async function open_pipeline(page, id) {
  await page.goto(base + '/');
  await page.locator(`[data-pipeline="${id}"] a`).first().click();
  await page.locator('[data-stage]').first().waitFor({ timeout: bound });
}
// Records every data-status each stage node takes, in order, from now on
// (a MutationObserver in the page: nothing is missed between two polls).
async function record_statuses(page) {
  await page.evaluate(() => {
    window.__seen = {};
    const note = (el) => {
      const name = el.getAttribute('data-stage'), s = el.getAttribute('data-status');
      const list = (window.__seen[name] ||= []);
      if (list[list.length - 1] !== s) list.push(s);
    };
    document.querySelectorAll('[data-stage]').forEach(note);
    new MutationObserver((changes) => {
      for (const c of changes) {
        if (c.type === 'attributes' && c.target.hasAttribute && c.target.hasAttribute('data-stage')) note(c.target);
        for (const n of c.addedNodes || []) {
          if (n.nodeType !== 1) continue;
          if (n.hasAttribute('data-stage')) note(n);
          n.querySelectorAll && n.querySelectorAll('[data-stage]').forEach(note);
        }
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
  });
}
const seen_statuses = (page) => page.evaluate(() => window.__seen);
async function shot(page, name) {
  if (!shots) return;
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}

// ---------------------------------------------------------------------------

let browser = null;
async function main() {
  await start_server();
  start_worker();
  await wait_for('the worker to register', () => /registered/.test(log_of('worker.log')));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 850 } });
  const page = await context.newPage();
  const page_errors = [];
  page.on('pageerror', (e) => page_errors.push(e.message));

  // --- signing in ---------------------------------------------------------
  await check('without_signing_in_only_the_sign_in_form', async () => {
    await page.goto(base + '/');
    await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: bound });
    const r = await page.evaluate(async () => (await fetch('/pipelines')).status);
    if (r !== 401) fail(`GET /pipelines from the page without a session answered ${r}`);
    const h = await page.evaluate(async () => (await fetch('/healthz')).status);
    if (h !== 200) fail(`GET /healthz answered ${h}`);
  });
  await check('a_wrong_token_is_refused_on_the_page', async () => {
    await sign_in(page, 'not-the-token-at-all-not-at-all');
    await page.getByRole('alert').filter({ hasText: /./ }).first().waitFor({ timeout: bound });
    await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: bound });  // still the form
  });
  await check('signing_in_shows_the_pipelines', async () => {
    await sign_in(page);
    await page.getByRole('button', { name: 'Create' }).waitFor({ timeout: bound });
    const cookies = await context.cookies();
    const c = cookies.find((x) => x.name === 'dairector_session');
    if (!c) fail('no dairector_session cookie');
    if (!c.httpOnly || c.sameSite !== 'Strict') fail(`cookie not HttpOnly+Strict: ${JSON.stringify(c)}`);
  });

  // --- the six-stage example, created and confirmed from the page ----------------
  await check('the_example_runs_live_and_is_confirmed_from_the_page', async () => {
    await page.locator('textarea[name=spec]').fill(JSON.stringify(specs.example, null, 2));
    const id_field = page.locator('input[name=id]');
    if (await id_field.count()) await id_field.fill('example');
    await page.getByRole('button', { name: 'Create' }).click();
    // The page opens the new pipeline; the list has it too.
    await page.waitForURL(/#\/pipelines\/example$/, { timeout: bound });
    await page.locator('[data-stage="idea"]').waitFor({ timeout: bound });
    await open_pipeline(page, 'example');
    await record_statuses(page);
    await page.getByRole('button', { name: 'Confirm' }).waitFor({ timeout: bound });
    await shot(page, 'confirmation');
    await page.getByRole('button', { name: 'Confirm' }).click();
    for (const s of specs.example.stages) await status_is(page, s.name, 'completed');
    const seen = await seen_statuses(page);
    // Live, without a reload: the page saw at least one stage change after it opened.
    if (!Object.values(seen).some((l) => l.length > 1)) fail(`no status changed while watching: ${JSON.stringify(seen)}`);
  });

  // --- Cancel while the command finishes ----------------------------------------
  await check('a_cancel_while_the_command_finishes_ends_cancelled', async () => {
    const made = await api('POST', '/pipelines', { spec: specs.slow, id: 'slow' });
    if (made.status !== 201) fail(`create: ${made.status} ${made.text}`);
    await open_pipeline(page, 'slow');
    await status_is(page, 'long', 'running');
    await shot(page, 'pipeline-running');
    await record_statuses(page);
    // Order forced: [the worker stopped (SIGSTOP)] [the command finishes: its
    // result waits in the stopped worker] [Cancel pressed: applied, shown]
    // [the worker goes on: the result arrives for a run no longer live].
    worker.kill('SIGSTOP');
    fs.writeFileSync(held('long'), '');
    await wait_for('the command to exit', () => !command_alive(held('long')));
    await stage(page, 'long').getByRole('button', { name: 'Cancel' }).click();
    await status_is(page, 'long', 'cancelled');
    worker.kill('SIGCONT');
    // The discarded result reaches the journal: wait for it there, then the page has had every chance to flip.
    await wait_for('the discarded result in the history', async () => {
      const h = await api('GET', '/pipelines/slow/history');
      return h.json && h.json.some((e) => /discard/.test(e.type));
    });
    await page.getByText(/discard/).first().waitFor({ timeout: bound });  // the history table shows it
    const seen = (await seen_statuses(page)).long;
    const at = seen.indexOf('cancelled');
    if (at < 0 || seen.slice(at).some((s) => s !== 'cancelled')) fail(`long went ${seen.join(' -> ')}`);
  });

  // --- Invalidate a middle stage --------------------------------------------
  await check('invalidating_a_middle_stage_outdates_everything_downstream', async () => {
    const made = await api('POST', '/pipelines', { spec: specs.chain, id: 'chain' });
    if (made.status !== 201) fail(`create: ${made.status} ${made.text}`);
    await open_pipeline(page, 'chain');
    for (const s of ['left', 'right', 'end']) await status_is(page, s, 'completed');
    fs.writeFileSync(held('side'), '');
    await page.getByRole('button', { name: 'Confirm' }).waitFor({ timeout: bound });  // side asks: starts are blocked
    await record_statuses(page);
    await stage(page, 'middle').locator('button.node-name').click();
    await page.locator('textarea[name=context]').fill('{"goal": 2}');
    await page.getByRole('button', { name: 'Invalidate' }).click();
    for (const s of ['left', 'right', 'end']) await status_is(page, s, 'outdated');
    await page.getByRole('button', { name: 'Confirm' }).click();  // starts go on: they run again
    for (const s of ['left', 'right', 'end']) await status_is(page, s, 'completed');
    const seen = await seen_statuses(page);
    for (const s of ['left', 'right', 'end']) {
      const l = seen[s] || [];
      const o = l.indexOf('outdated');
      if (o < 0 || !l.slice(o).includes('completed')) fail(`${s} went ${l.join(' -> ')}`);
    }
    if ((seen.middle || []).some((x) => x !== 'completed')) fail(`middle went ${seen.middle.join(' -> ')}`);
  });

  // --- time travel ----------------------------------------------------------
  await check('the_slider_shows_the_past_and_comes_back_to_live', async () => {
    const slider = page.locator('input[type=range][name=seq]');
    await slider.waitFor({ timeout: bound });
    await slider.fill('2');  // after pipeline_created and the first start
    await page.getByText(/past/i).first().waitFor({ timeout: bound });
    const first = await status_of(page, 'first');
    const end = await status_of(page, 'end');
    if (end !== 'pending') fail(`at seq 2 'end' shows ${end}`);
    if (!['running', 'pending', 'ready'].includes(first)) fail(`at seq 2 'first' shows ${first}`);
    await shot(page, 'time-travel');
    await page.getByRole('button', { name: 'Back to live' }).click();
    await status_is(page, 'end', 'completed');
  });

  // --- a run waiting for a worker nobody connected serves -------------------------
  await check('a_run_waiting_for_a_worker_shows_why_on_its_node', async () => {
    // 'unserved' is in no stage list the worker registered (stage_names is
    // built from `specs`, which does not hold this one): it waits.
    const r = await api('POST', '/pipelines', {
      id: 'unserved', spec: { name: 'unserved', stages: [{ name: 'unserved', after: [], run: { builtin: 'echo' } }] },
    });
    if (r.status !== 201) fail(`POST /pipelines answered ${r.status}: ${r.text}`);
    await open_pipeline(page, 'unserved');
    const wait = stage(page, 'unserved').locator('[data-waiting="worker"]');
    await wait.waitFor({ timeout: bound });
    const text = await wait.textContent();
    if (!text.includes("no connected worker serves stage 'unserved'")) fail(`the node says: ${text}`);
    if ((await status_of(page, 'unserved')) !== 'running') fail('its status is not running');
    await stage(page, 'unserved').getByRole('button', { name: 'Cancel' }).click();
    await status_is(page, 'unserved', 'cancelled');
    if (await stage(page, 'unserved').locator('[data-waiting]').count()) fail('the wait is still shown');
  });

  // --- the server killed and restarted under an open page ---------------------------
  await check('a_restarted_server_is_reconnected_and_nothing_shows_twice', async () => {
    await open_pipeline(page, 'slow');
    server.kill('SIGKILL');
    await page.locator('[data-connection="lost"]').waitFor({ timeout: bound });
    await start_server();
    start_worker();
    await page.locator('[data-connection="live"]').waitFor({ timeout: bound });
    const h = await api('GET', '/pipelines/slow/history');
    const want = h.json.length;
    // Every event once in the history table: no seq twice, and seqs 1..N
    // without a gap for some N at least the journal's count when the page
    // reconnected. (The pipeline goes on meanwhile, its worker back: the
    // table may rightly hold more events than that count, never fewer.)
    await wait_for('the history table to hold every event', async () => {
      const seqs = await page.locator('[data-seq]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-seq'))));
      if (new Set(seqs).size !== seqs.length) fail(`a seq shows twice: ${seqs.join(',')}`);
      const sorted = [...seqs].sort((a, b) => a - b);
      return sorted.length >= want && sorted.every((seq, k) => seq === k + 1);
    });
  });

  // --- a cross-site page ----------------------------------------------------
  await check('a_cross_site_page_cannot_change_anything', async () => {
    const evil = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<!doctype html><form id=f method=POST action="${base}/pipelines" enctype="text/plain">
        <input name='{"spec": ${JSON.stringify(JSON.stringify(specs.slow)).slice(1, -1)}, "id": "forged", "x": "' value='"}'>
        </form><script>
        fetch(${JSON.stringify(base + '/pipelines')}, {method: 'POST', credentials: 'include', mode: 'no-cors',
          headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({spec: ${JSON.stringify(specs.slow)}, id: 'forged-fetch'})})
          .finally(() => document.getElementById('f').submit());
        </script>`);
    });
    await new Promise((r) => evil.listen(0, '127.0.0.1', r));
    const other = await context.newPage();  // same browser, signed in: the cookie is there
    await other.goto(`http://127.0.0.1:${evil.address().port}/`);
    await other.waitForURL((u) => u.port === String(http_port), { timeout: bound });  // the form was posted
    const body = await other.content();
    await other.close();
    evil.close();
    const list = await api('GET', '/pipelines');
    const ids = list.json.map((p) => p.pipeline);
    if (ids.includes('forged') || ids.includes('forged-fetch')) fail(`a forged pipeline exists: ${ids.join(',')}`);
    if (!/403|Content-Type|Origin/i.test(body)) fail(`the forged POST was not refused visibly: ${body.slice(0, 200)}`);
  });
  await page.goto(base + '/');
  // Every row of the list with its outcome loaded (a row shows '…' until then).
  await page.locator('[data-pipeline="chain"]').waitFor({ timeout: bound });
  await page.waitForFunction(() => [...document.querySelectorAll('[data-pipeline]')].every((r) => !r.textContent.includes('…')),
    null, { timeout: bound });
  await shot(page, 'list');

  await check('no_script_error_on_the_page', async () => {
    if (page_errors.length) fail(page_errors.join('; '));
  });
}

try {
  await main();
} catch (e) {
  bad('stories', e && e.stack ? e.stack : e);
} finally {
  if (browser) await browser.close().catch(() => {});
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
