// The first run, end to end through the real thing: `scripts/run.sh` (build, ingest, train,
// evaluate, browser package, web model files) ends in `reco serve --models models --web web` on a
// free port (RECO_PORT); headless Chromium (Playwright, /usr/bin/chromium) then opens
// http://127.0.0.1:PORT/ as a user would: redirected to /web/, the page loads with no console
// error, every model kind recommends for a basket (the same items as the server's POST
// /recommend/{model}), item-KNN shows similar products (= GET /similar/item-knn/{id}), and
// popularity picks carry a "bestseller" label instead of a 0.0 score. Then the failures a first
// run can meet, each on a real `reco serve`: the package missing from the web folder, a model
// file gone after a reload (404), a corrupt model file, an unknown ?model=.
// Output of run.sh: web/test-results/run-sh.log. Env: RECO_RUN_TIMEOUT_MIN (default 40).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, copyFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = join(root, 'web', 'test-results');
const bin = join(root, 'target/release/reco');
const KINDS = ['als', 'lightfm', 'knn', 'item-knn', 'ease', 'rp3beta', 'popularity'];
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function freePort() {
  const s = createServer();
  await new Promise((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address();
  await new Promise((ok) => s.close(ok));
  return port;
}

/** Starts `cmd` in its own process group; its output goes to `logPath` and is kept. */
function start(cmd, args, env, logPath) {
  const log = createWriteStream(logPath);
  const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { child, text: '' };
  for (const s of [child.stdout, child.stderr]) s.on('data', (d) => { proc.text += d; log.write(d); });
  child.on('exit', () => log.end());
  return proc;
}

function stop(proc) {
  if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
    try { process.kill(-proc.child.pid, 'SIGTERM'); } catch { /* already gone */ }
  }
}

/** Waits until `GET /` answers the health JSON, or fails with the end of the process output. */
async function waitHealth(base, proc, minutes) {
  const deadline = Date.now() + minutes * 60_000;
  for (;;) {
    if (proc.child.exitCode !== null) assert.fail(`exited with ${proc.child.exitCode} before serving:\n${proc.text.slice(-3000)}`);
    if (Date.now() > deadline) assert.fail(`not serving after ${minutes} min:\n${proc.text.slice(-3000)}`);
    try {
      const r = await fetch(`${base}/`, { headers: { accept: 'application/json' } });
      if (r.ok) return await r.json();
    } catch { /* not up yet */ }
    await sleep(500);
  }
}

async function browser() {
  const profile = await mkdtemp(join(tmpdir(), 'reco-run-e2e-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { ctx, close: async () => { await ctx.close(); await rm(profile, { recursive: true, force: true }); } };
}

function watch(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

const ids = async (page, sel) => ((await page.getAttribute(sel, 'data-items')) || '').split(',').filter(Boolean);

test('scripts/run.sh serves a working demo page: every model kind, similar products, visible errors', { timeout: 60 * 60_000 }, async (t) => {
  await mkdir(out, { recursive: true });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const run = start(join(root, 'scripts/run.sh'), [], { RECO_PORT: String(port), RECO_HOST: '127.0.0.1' }, join(out, 'run-sh.log'));
  const extra = [];
  const tmp = await mkdtemp(join(tmpdir(), 'reco-run-sh-'));
  const { ctx, close } = await browser();
  try {
    const health = await waitHealth(base, run, Number(process.env.RECO_RUN_TIMEOUT_MIN || 40));
    assert.deepEqual(Object.keys(health.models).sort(), [...KINDS].sort(), 'run.sh serves every model kind');
    // What run.sh told the user: where reco is, how to put it on PATH, and no hidden demo failure.
    assert.match(run.text, /export PATH="[^"]*\/target\/release:\$PATH"/);
    assert.match(run.text, /cargo install --path server/);
    assert.doesNotMatch(run.text, /browser demo was NOT built/);

    await t.test('the page works, with every model kind', async () => {
      const page = await ctx.newPage();
      const errors = watch(page);
      await page.goto(`${base}/`);
      assert.equal(new URL(page.url()).pathname, '/web/', 'a browser asking for / lands on the demo');
      await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
      assert.equal(await page.isVisible('[data-testid="error"]'), false);
      const offered = await page.$$eval('[data-testid="model-switch"] button', (bs) => bs.map((b) => b.dataset.kind));
      assert.deepEqual(offered, KINDS, 'every kind offered, in this order');

      // Empty basket: bestsellers, labelled as such, no 0.0 score shown.
      assert.equal(await page.getAttribute('#recs', 'data-fallback'), 'popularity');
      assert.equal(await page.locator('#recs [data-testid="bestseller"]').count(), 10);
      assert.equal(await page.locator('#recs .score').count(), 0);

      await page.fill('[data-testid="search"]', 'heart');
      for (let k = 0; k < 3; k++) await page.locator('#products .add:not([disabled])').first().click();
      await page.fill('[data-testid="search"]', '');
      const basket = await page.$$eval('#basket li[data-item-id]', (els) => els.map((e) => e.dataset.itemId));
      assert.equal(basket.length, 3);

      for (const kind of KINDS) {
        await page.click(`[data-testid="model-switch"] button[data-model="${kind}"]`);
        await page.waitForSelector(`body[data-model="${kind}"]`, { timeout: 20000 });
        assert.equal(await page.isVisible('[data-testid="error"]'), false, `${kind}: no error`);
        const shown = await ids(page, '#recs');
        assert.equal(shown.length, 10, `${kind}: 10 recommendations`);
        for (const id of basket) assert.ok(!shown.includes(id), `${kind}: basket item ${id} not recommended`);
        const r = await fetch(`${base}/recommend/${kind}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ items: basket, n: 10 }) });
        assert.equal(r.status, 200);
        const body = await r.json();
        const server = (Array.isArray(body) ? body : body.items).map((i) => i.item_id);
        assert.deepEqual(shown, server, `${kind}: the browser's list = the server's list`);
        const scores = await page.$$eval('#recs .score', (els) => els.map((e) => e.textContent));
        assert.ok(!scores.includes('0.000'), `${kind}: no 0.0 score shown (${scores})`);
        if (kind === 'popularity') assert.equal(await page.locator('#recs [data-testid="bestseller"]').count(), 10);
      }

      // Similar products with item-KNN, equal to the server's answer.
      await page.click('[data-testid="model-switch"] button[data-model="item-knn"]');
      await page.waitForSelector('body[data-model="item-knn"]');
      const card = page.locator('#products .product').first();
      const item = await card.getAttribute('data-item-id');
      await card.locator('[data-testid="show-similar"]').click();
      await page.waitForSelector('[data-testid="similar"]:not([hidden])');
      assert.match(await page.textContent('[data-testid="similar"] h2'), /Similar to/);
      const similar = await ids(page, '#similar-items');
      assert.equal(similar.length, 8);
      const sr = await (await fetch(`${base}/similar/item-knn/${encodeURIComponent(item)}?n=8`)).json();
      assert.deepEqual(similar, (Array.isArray(sr) ? sr : sr.items).map((i) => i.item_id));

      // A customer the models never saw: bestsellers on both sides, labelled, no 0.0.
      await page.click('[data-testid="model-switch"] button[data-model="als"]');
      await page.waitForSelector('body[data-model="als"]');
      await page.fill('[data-testid="customer"]', 'no-such-customer');
      await page.click('#customer-form button');
      await page.waitForSelector('#compare div:nth-child(2) ol li');
      assert.equal(await page.locator('#compare .tag').count(), 10);
      await page.screenshot({ path: join(out, 'run-sh-demo.png'), fullPage: true });
      assert.deepEqual(errors, []);
      await page.close();
    });

    await t.test('missing package: the page says to build it', async () => {
      const web = join(tmp, 'web-no-pkg');
      await cp(join(root, 'web'), web, { recursive: true, filter: (src) => !src.includes(`${join(root, 'web', 'pkg')}`) && !src.includes('test-results') });
      const p2 = await freePort();
      const srv = start(bin, ['serve', '--models', 'models', '--web', web, '--port', String(p2)], {}, join(out, 'serve-no-pkg.log'));
      extra.push(srv);
      await waitHealth(`http://127.0.0.1:${p2}`, srv, 1);
      const page = await ctx.newPage();
      await page.goto(`http://127.0.0.1:${p2}/`);
      await page.waitForSelector('body[data-ready="error"]', { timeout: 20000 });
      const text = await page.textContent('[data-testid="error"]');
      assert.ok(await page.isVisible('[data-testid="error"]'));
      assert.match(text, /\/web\/pkg\/reco_wasm\.js could not be loaded \(HTTP 404\)/);
      assert.match(text, /scripts\/build-wasm\.sh/);
      assert.match(text, /scripts\/run\.sh/);
      assert.equal(await page.textContent('[data-testid="status"]'), 'not available');
      await page.screenshot({ path: join(out, 'run-sh-no-package.png') });
      await page.close();
    });

    await t.test('a model file gone (404) or corrupt, an unknown ?model=: the page says so and keeps working', async () => {
      const models = join(tmp, 'models');
      await mkdir(models);
      for (const m of ['als', 'lightfm']) await copyFile(join(root, 'models', `${m}.safetensors`), join(models, `${m}.safetensors`));
      const p3 = await freePort();
      const srv = start(bin, ['serve', '--models', models, '--web', 'web', '--port', String(p3)], {}, join(out, 'serve-reload.log'));
      extra.push(srv);
      const b3 = `http://127.0.0.1:${p3}`;
      await waitHealth(b3, srv, 1);
      const page = await ctx.newPage();
      await page.goto(`${b3}/`);
      await page.waitForSelector('body[data-ready="true"]');
      // The file goes away and the server reloads (SIGHUP) while the page is open.
      await rm(join(models, 'lightfm.safetensors'));
      process.kill(srv.child.pid, 'SIGHUP');
      for (let k = 0; ; k++) {
        const h = await (await fetch(`${b3}/`, { headers: { accept: 'application/json' } })).json();
        if (!h.models.lightfm) break;
        assert.ok(k < 100, 'the server did not reload');
        await sleep(100);
      }
      await page.click('[data-testid="model-switch"] button[data-model="lightfm"]');
      await page.waitForSelector('[data-testid="error"]:not([hidden])');
      const text = await page.textContent('[data-testid="error"]');
      assert.match(text, /Model “lightfm”: \/models\/lightfm\.safetensors answered HTTP 404/);
      assert.match(text, /reco train --model lightfm/);
      assert.equal(await page.getAttribute('body', 'data-model'), 'als', 'the previous model keeps answering');
      assert.equal((await ids(page, '#recs')).length, 10);
      await page.screenshot({ path: join(out, 'run-sh-model-404.png') });

      // A corrupt file on the way (intercepted: the server refuses to load one itself).
      const corrupt = await ctx.newPage();
      await corrupt.route('**/models/als.safetensors', (r) => r.fulfill({ status: 200, contentType: 'application/octet-stream', body: 'this is not a model file' }));
      await corrupt.goto(`${b3}/`);
      await corrupt.waitForSelector('body[data-ready="error"]');
      const bad = await corrupt.textContent('[data-testid="error"]');
      assert.match(bad, /Model “als”: \/models\/als\.safetensors is not a usable model file/);
      assert.match(bad, /reco train --model als/);

      // An unknown ?model=: said, and the default model shown.
      const unknown = await ctx.newPage();
      await unknown.goto(`${b3}/web/?model=nope`);
      await unknown.waitForSelector('body[data-ready="true"]');
      assert.match(await unknown.textContent('[data-testid="error"]'), /There is no model “nope” here \(available: als\)/);
      assert.equal(await unknown.getAttribute('body', 'data-model'), 'als');
      for (const p of [page, corrupt, unknown]) await p.close();
    });
  } finally {
    await close();
    for (const p of [run, ...extra]) stop(p);
    await rm(tmp, { recursive: true, force: true });
  }
});

