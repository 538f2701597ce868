// dashboard.test.mjs — the dashboard (GET /) in headless Chromium against the
// real daemon while a job trains: the job appears in the list, its page's
// curve gains points from the live event stream, the cancel button cancels
// it and the page shows the new state; a job page says it is loading its
// curve until the stream answers (and "no epoch yet" only for a job without
// one); class names show one per item (a name may hold a comma); with
// --token, the page asks for the token, shows nothing before it, and works
// after it.  Screenshots go to
// $BROWSER_OUT (the Makefile passes $(BUILD)/browser), else the test's
// temporary directory.
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM) driven by
// playwright-core; it is kept off the network: every request of the page
// to anything but the daemon's loopback address is aborted and fails the
// test, no host name resolves, and any proxy-routed traffic goes to a
// closed loopback port.
//
//   TRAIND_BIN=./traind node --test dashboard.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const here = path.dirname(new URL(import.meta.url).pathname);
const repo = path.resolve(here, '..', '..');
const bin = process.env.TRAIND_BIN ? path.resolve(process.env.TRAIND_BIN) : path.join(repo, 'traind');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'traind-browser-'));
const outDir = process.env.BROWSER_OUT ? path.resolve(process.env.BROWSER_OUT) : scratch;

// The flags that keep Chromium off the network (playwright-core adds its own
// quiet-startup set too: no background networking, component updates,
// extensions, sync or first-run pages).
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--proxy-server=http://127.0.0.1:9',       // non-loopback traffic: a closed port
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--disable-sync',
  '--disable-extensions',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication',
];

let browser;
const daemons = [];

before(async () => {
  assert.ok(fs.existsSync(bin), `no traind at ${bin} (build it, or set TRAIND_BIN)`);
  assert.ok(fs.existsSync(chromiumPath), `no Chromium at ${chromiumPath} (make deps installs Debian's chromium)`);
  fs.mkdirSync(outDir, { recursive: true });
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS, timeout: 60000 });
});

after(async () => {
  if (browser) await browser.close();
  for (const d of daemons) await stopDaemon(d);
  fs.rmSync(scratch, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// The daemon

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startDaemon(extra = []) {
  const k = daemons.length + 1;
  const db = path.join(scratch, `db-${k}.sqlite`);
  const portFile = path.join(scratch, `port-${k}`);
  const log = path.join(scratch, `daemon-${k}.log`);
  const fd = fs.openSync(log, 'a');
  const proc = spawn(bin, ['serve', '--host', '127.0.0.1', '--port', '0', '--db', db, '--port-file', portFile,
    '--workers', '1', '--threads', '1', ...extra], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const d = { proc, log, base: '', token: '', exited: false };
  proc.on('exit', () => { d.exited = true; });
  daemons.push(d);
  for (let t0 = Date.now(); Date.now() - t0 < 15000; await sleep(30)) {
    if (d.exited) assert.fail(`traind exited at start:\n${fs.readFileSync(log, 'utf8')}`);
    if (fs.existsSync(portFile)) {
      const port = parseInt(fs.readFileSync(portFile, 'utf8'), 10);
      if (port > 0) {
        d.base = `http://127.0.0.1:${port}`;
        return d;
      }
    }
  }
  assert.fail(`traind did not listen within 15 s:\n${fs.readFileSync(log, 'utf8')}`);
}

async function stopDaemon(d) {
  if (d.exited) return;
  d.proc.kill('SIGTERM');
  for (let t0 = Date.now(); !d.exited && Date.now() - t0 < 20000;) await sleep(50);
  if (!d.exited) d.proc.kill('SIGKILL');
}

async function call(d, method, p, body, headers = {}) {
  const h = { ...headers };
  if (d.token) h.Authorization = `Bearer ${d.token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const res = await fetch(d.base + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: res.status, json, text };
}

async function must(d, method, p, body, want) {
  const r = await call(d, method, p, body);
  assert.equal(r.status, want, `${method} ${p}: ${r.status} ${r.text}\n${tail(d)}`);
  return r.json;
}

// A sanitizer build of the daemon reports into its log.
function assertCleanLog(d) {
  const log = fs.readFileSync(d.log, 'utf8');
  assert.ok(!/ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:/.test(log), `sanitizer report:\n${log.slice(-6000)}`);
}

function tail(d) {
  const t = fs.readFileSync(d.log, 'utf8');
  return t.slice(-3000);
}

async function waitJob(d, id, states, timeoutMs) {
  for (let t0 = Date.now(); Date.now() - t0 < timeoutMs; await sleep(100)) {
    const j = await must(d, 'GET', `/v1/jobs/${id}`, undefined, 200);
    if (states.includes(j.state)) return j;
  }
  assert.fail(`job ${id} did not reach ${states.join('/')} within ${timeoutMs} ms\n${tail(d)}`);
}

// ---------------------------------------------------------------------------
// Fixtures: two interleaved spirals (a seeded generator, so every run has
// the same data), a small MLP for them.

function spirals(n, seed) {
  let s = seed >>> 0;
  const rand = () => {   // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const x = [], y = [];
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    const t = 0.5 + rand() * 3.5 * Math.PI;
    const r = (t / (3.5 * Math.PI + 0.5)) * 4;
    const a = t + c * Math.PI;
    x.push([+(r * Math.cos(a) + 0.15 * gauss()).toFixed(4), +(r * Math.sin(a) + 0.15 * gauss()).toFixed(4)]);
    y.push(c ? 'outer arm' : 'inner arm');
  }
  return { x, y };
}

const MODEL = {
  input: [2],
  layers: [
    { type: 'dense', units: 64, activation: 'tanh' },
    { type: 'dense', units: 64, activation: 'tanh' },
    { type: 'dense', units: 2, activation: 'softmax' },
  ],
  loss: 'cross_entropy',
  training: { optimizer: { type: 'adam', lr: 0.003 }, batch_size: 32, epochs: 3000, seed: 7, validation_split: 0.2 },
};

// A name with markup in it: the page must show it as text.
const DATASET_NAME = 'spirals <b>bold</b> & "quoted"';

async function upload(d, data, name) {
  const h = { 'Content-Type': 'application/json' };
  if (d.token) h.Authorization = `Bearer ${d.token}`;
  const res = await fetch(`${d.base}/v1/datasets?name=${encodeURIComponent(name)}`, { method: 'POST', headers: h, body: JSON.stringify(data) });
  const text = await res.text();
  assert.equal(res.status, 201, `upload: ${res.status} ${text}`);
  return JSON.parse(text);
}

// ---------------------------------------------------------------------------
// The browser

// A page that may talk only to base; records what it tried elsewhere, and
// every console error and uncaught exception.
async function openPage(base) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const seen = { blocked: [], errors: [] };
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base + '/') || url === base) return route.continue();
    if (url.startsWith('blob:') || url.startsWith('data:')) return route.continue();
    seen.blocked.push(url);
    return route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') seen.errors.push(m.text()); });
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  page.on('dialog', (dlg) => dlg.accept());   // the cancel confirmation
  return { context, page, seen };
}

async function points(page) {
  return Number(await page.getAttribute('#job-chart', 'data-points'));
}

async function waitPoints(page, atLeast, timeoutMs) {
  await page.waitForFunction((n) => {
    const c = document.getElementById('job-chart');
    return c && Number(c.getAttribute('data-points')) >= n;
  }, atLeast, { timeout: timeoutMs, polling: 100 });
  return points(page);
}

async function shot(page, name) {
  const file = path.join(outDir, name);
  await page.screenshot({ path: file, fullPage: true });
  assert.ok(fs.statSync(file).size > 10000, `${file} looks empty`);
  return file;
}

// On a failure: a screenshot, and what the page and the daemon said.
async function explain(page, seen, d, name) {
  try { await page.screenshot({ path: path.join(outDir, name), fullPage: true }); } catch { /* page gone */ }
  console.error(`page errors: ${JSON.stringify(seen.errors)}\nblocked: ${JSON.stringify(seen.blocked)}\n` +
    `screenshot: ${path.join(outDir, name)}\ndaemon log:\n${tail(d)}`);
}

// ---------------------------------------------------------------------------

test('the dashboard follows a training job live and cancels it', { timeout: 240000 }, async () => {
  const d = await startDaemon();
  const ds = await upload(d, spirals(8000, 11), DATASET_NAME);
  const model = await must(d, 'POST', '/v1/models?name=spiral-mlp', MODEL, 201);

  // a short job that finishes first, then the long one
  const quick = await must(d, 'POST', '/v1/jobs', { model: model.id, dataset: ds.id, training: { epochs: 2 } }, 201);
  await waitJob(d, quick.id, ['succeeded'], 60000);
  const job = await must(d, 'POST', '/v1/jobs', { model: model.id, dataset: ds.id, checkpoint_every: 10 }, 201);
  await waitJob(d, job.id, ['running'], 30000);
  // a job cancelled in the queue: it never finished an epoch
  const never = await must(d, 'POST', '/v1/jobs', { model: model.id, dataset: ds.id, training: { epochs: 2 } }, 201);
  assert.equal((await must(d, 'POST', `/v1/jobs/${never.id}/cancel`, undefined, 200)).state, 'cancelled');
  // class names with a comma in one of them
  const commas = await upload(d, { x: [[0], [1], [2], [3]], y: ['red, dark', 'blue', 'red', 'blue'] }, 'commas');

  const { context, page, seen } = await openPage(d.base);
  try {
    await page.goto(d.base + '/', { waitUntil: 'domcontentloaded' });

    // the list: newest first, the running job with its state
    const row = page.locator(`#jobs-body tr[data-job="${job.id}"]`);
    await row.waitFor({ timeout: 15000 });
    assert.equal(await row.getAttribute('data-state'), 'running');
    assert.equal((await row.locator('.badge').textContent()).trim(), 'running');
    const ids = await page.$$eval('#jobs-body tr[data-job]', (trs) => trs.map((tr) => Number(tr.dataset.job)));
    assert.deepEqual(ids, [never.id, job.id, quick.id]);
    const quickRow = page.locator(`#jobs-body tr[data-job="${quick.id}"]`);
    assert.equal(await quickRow.getAttribute('data-state'), 'succeeded');
    assert.match(await quickRow.textContent(), /100%/);

    // the state filter
    await page.click('a.chip[data-filter="succeeded"]');
    await page.waitForFunction(() => location.hash === '#/jobs?state=succeeded');
    await page.locator(`#jobs-body tr[data-job="${quick.id}"]`).waitFor({ timeout: 10000 });
    await page.waitForFunction((id) => !document.querySelector(`#jobs-body tr[data-job="${id}"]`), job.id, { timeout: 10000 });
    await page.click('a.chip[data-filter="all"]');
    await row.waitFor({ timeout: 10000 });
    await shot(page, 'dashboard-jobs.png');

    // the job page: its curve grows while it trains
    await row.click();
    await page.waitForFunction((id) => location.hash === `#/jobs/${id}`, job.id);
    const first = await waitPoints(page, 1, 30000);
    const later = await waitPoints(page, first + 3, 60000);
    assert.ok(later >= first + 3, `the chart went from ${first} to ${later} points`);
    await page.locator('#job-chart .uplot canvas').first().waitFor({ timeout: 5000 });
    const legend = await page.locator('#job-chart .u-legend').textContent();
    for (const label of ['loss', 'val loss', 'accuracy', 'val accuracy']) assert.ok(legend.includes(label), `legend lacks ${label}: ${legend}`);

    // what the page shows agrees with the API
    const params = model.summary.total_params;
    await page.locator('#model-params').waitFor();
    assert.equal((await page.textContent('#model-params')).replace(/,/g, ''), String(params));
    assert.equal(await page.locator('#model-layers tbody tr').count(), MODEL.layers.length);
    const main = await page.textContent('main');
    assert.ok(main.includes(DATASET_NAME), 'the dataset name is shown as text');
    assert.equal(await page.locator('main b').count(), 0, 'markup in a dataset name became HTML');
    assert.match(await page.textContent('#training-settings'), /optimizer\.type\s*adam/);

    await waitPoints(page, 25, 90000);   // enough of a curve for the picture
    await page.mouse.move(0, 0);
    await shot(page, 'dashboard-job.png');

    // cancel: the page shows the new state, the API agrees
    await page.click('#cancel-job');
    await page.waitForFunction(() => {
      const b = document.querySelector('#job-state .badge');
      return b && b.textContent.trim() === 'cancelled';
    }, null, { timeout: 30000 });
    const cancelled = await must(d, 'GET', `/v1/jobs/${job.id}`, undefined, 200);
    assert.equal(cancelled.state, 'cancelled');
    assert.equal(cancelled.stop_reason, 'cancelled');
    assert.ok(await page.isHidden('#cancel-job'), 'the cancel button is gone after cancelling');
    await page.locator('#job-outcome .banner').waitFor();
    assert.match(await page.textContent('#job-outcome'), /Cancelled/);
    // every finished epoch is on the chart
    const epochs = (await must(d, 'GET', `/v1/jobs/${job.id}/metrics?kind=epoch`, undefined, 200)).metrics.length;
    await waitPoints(page, epochs, 10000);
    await page.waitForFunction(() => document.getElementById('stream-state').textContent === 'finished', null, { timeout: 10000 });
    await shot(page, 'dashboard-job-cancelled.png');

    // the weights download (fetch with the header, saved by the browser)
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15000 }), page.click('#download-weights')]);
    const saved = path.join(scratch, 'weights.safetensors');
    await download.saveAs(saved);
    const bytes = fs.readFileSync(saved);
    const headerLen = Number(bytes.readBigUInt64LE(0));
    assert.ok(headerLen > 0 && headerLen < bytes.length, 'a safetensors file');
    assert.match(bytes.subarray(8, 8 + headerLen).toString(), /"dtype"/);

    // a job page says it loads its curve until the stream answers, and
    // never "no epoch finished" for a job that has epochs (the quick one's
    // stream is held back for a while here)
    let release;
    const held = new Promise((r) => { release = r; });
    const quickEvents = `**/v1/jobs/${quick.id}/events`;
    await context.route(quickEvents, async (route) => { await held; await route.fallback(); });
    await page.goto(`${d.base}/#/jobs/${quick.id}`);
    await page.locator('#chart-placeholder').waitFor({ timeout: 10000 });
    await page.evaluate(() => {
      window.chartTexts = [document.getElementById('chart-placeholder').textContent];
      new MutationObserver(() => {
        const p = document.getElementById('chart-placeholder');
        if (p) window.chartTexts.push(p.textContent);
      }).observe(document.getElementById('job-chart'), { subtree: true, childList: true, characterData: true });
    });
    await page.waitForTimeout(500);
    assert.equal(await page.getAttribute('#chart-placeholder', 'data-state'), 'loading');
    assert.equal((await page.textContent('#chart-placeholder')).trim(), 'Loading the curve…');
    release();
    assert.equal(await waitPoints(page, 2, 10000), 2);
    const texts = await page.evaluate(() => window.chartTexts);
    assert.ok(!texts.some((t) => /No epoch/.test(t)), `the page said: ${JSON.stringify(texts)}`);
    await context.unroute(quickEvents);
    // a job without an epoch says so once its stream has answered
    await page.goto(`${d.base}/#/jobs/${never.id}`);
    await page.waitForFunction(() => {
      const p = document.getElementById('chart-placeholder');
      return p && p.getAttribute('data-state') === 'empty';
    }, null, { timeout: 10000 });
    assert.match(await page.textContent('#chart-placeholder'), /^No epoch finished yet/);
    assert.equal(await points(page), 0);

    // datasets and models
    await page.click('nav a[data-section="datasets"]');
    const drow = page.locator(`#datasets-table tr[data-dataset="${ds.id}"]`);
    await drow.waitFor({ timeout: 10000 });
    const dtext = await drow.textContent();
    assert.ok(dtext.includes(DATASET_NAME) && dtext.includes('8,000') && dtext.includes('[8000, 2]'), dtext);
    // class names one per item, in the dataset's order (sorted bytewise)
    const names = await page.$$eval(`#datasets-table tr[data-dataset="${commas.id}"] .class-list li`,
      (lis) => lis.map((li) => li.textContent));
    assert.deepEqual(names, ['blue', 'red', 'red, dark']);
    assert.deepEqual(await page.$$eval(`#datasets-table tr[data-dataset="${ds.id}"] .class-list li`,
      (lis) => lis.map((li) => li.textContent)), ['inner arm', 'outer arm']);
    assert.equal(await page.locator('main b').count(), 0);
    await page.click('nav a[data-section="models"]');
    const mrow = page.locator(`#models-table tr[data-model="${model.id}"]`);
    await mrow.waitFor({ timeout: 10000 });
    assert.ok((await mrow.textContent()).includes(params.toLocaleString('en-US')));

    assert.deepEqual(seen.blocked, [], 'the page tried to reach something other than the daemon');
    assert.deepEqual(seen.errors, [], 'console errors');
  } catch (err) {
    await explain(page, seen, d, 'failure-job.png');
    throw err;
  } finally {
    await context.close();
    await stopDaemon(d);
  }
  assertCleanLog(d);
});

test('with a token the page asks for it and shows nothing before', { timeout: 120000 }, async () => {
  const secret = 'dash-test-token-4f1c';
  const d = await startDaemon(['--token', secret]);
  d.token = secret;
  const ds = await upload(d, spirals(2000, 5), 'secret-spirals');
  const job = await must(d, 'POST', '/v1/jobs', { model: { ...MODEL, training: { ...MODEL.training, epochs: 3 } }, dataset: ds.id }, 201);
  await waitJob(d, job.id, ['succeeded'], 60000);
  d.token = '';
  assert.equal((await call(d, 'GET', '/v1/jobs')).status, 401, 'the API needs the token');
  assert.equal((await call(d, 'GET', '/metrics')).status, 401, '/metrics needs the token');
  assert.equal((await call(d, 'GET', '/')).status, 200, 'the page itself is open');

  const { context, page, seen } = await openPage(d.base);
  try {
    await page.goto(d.base + '/#/datasets', { waitUntil: 'domcontentloaded' });
    await page.locator('#token-dialog[open]').waitFor({ timeout: 10000 });
    await page.waitForTimeout(300);
    assert.ok(!(await page.textContent('body')).includes('secret-spirals'), 'data shown without the token');

    // a wrong token is refused and asked again
    await page.fill('#token-input', 'wrong');
    await page.click('#token-submit');
    await page.locator('#token-error:not([hidden])').waitFor({ timeout: 10000 });
    assert.match(await page.textContent('#token-error'), /did not accept/);
    assert.ok(!(await page.textContent('main')).includes('secret-spirals'));
    await shot(page, 'dashboard-token.png');

    // the right one: the page works, live stream included
    await page.fill('#token-input', secret);
    await page.click('#token-submit');
    await page.locator(`#datasets-table tr[data-dataset="${ds.id}"]`).waitFor({ timeout: 10000 });
    assert.ok(await page.isHidden('#token-dialog'));
    await page.goto(`${d.base}/#/jobs/${job.id}`);
    assert.equal(await waitPoints(page, 3, 20000), 3);
    await page.waitForFunction(() => document.getElementById('stream-state').textContent === 'finished', null, { timeout: 10000 });
    assert.equal(await page.isVisible('#token-dialog'), false, 'asked only once (kept in the session)');

    assert.deepEqual(seen.blocked, []);
    // the 401 answers before the token show up as failed loads, nothing else may
    const other = seen.errors.filter((e) => !/status of 401/.test(e));
    assert.deepEqual(other, [], 'console errors');
  } catch (err) {
    await explain(page, seen, d, 'failure-token.png');
    throw err;
  } finally {
    await context.close();
    await stopDaemon(d);
  }
  assertCleanLog(d);
});
