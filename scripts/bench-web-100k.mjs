// The demo page with a 100k-item model in headless Chromium (Playwright, /usr/bin/chromium):
// page ready (navigation start → model fetched, loaded and first list shown), fold-in + top-10
// per call, the answer checked against native `reco recommend --json` on the same file.
// Usage: node scripts/bench-web-100k.mjs WEB_DIR MODEL_NAME
//   WEB_DIR: a copy of web/ (index.html, app.js, style.css, pkg/) whose models/ holds the
//   exported file and its index.json; MODEL_NAME: the entry to open (?model=NAME).
// The files are served from 127.0.0.1 gzip-compressed (as a static server or reco serve's
// compression layer sends them), with `cache-control: no-store`, so every load fetches the
// model again. Prints one JSON line. Env: RECO_BIN (default target/release/reco).
import { createServer } from 'node:http';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../', import.meta.url));
const [webDir, name] = process.argv.slice(2);
if (!webDir || !name) {
  console.error('usage: node scripts/bench-web-100k.mjs WEB_DIR MODEL_NAME');
  process.exit(2);
}
const bin = process.env.RECO_BIN || join(root, 'target/release/reco');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm' };
const info = JSON.parse(readFileSync(join(webDir, 'models/index.json'), 'utf8')).models[name];
const modelPath = join(webDir, 'models', info.file);

const gzipped = new Map();
const server = createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^\/+/, '') || 'index.html';
  if (path.startsWith('..')) return res.writeHead(400).end();
  let body;
  try {
    if (!gzipped.has(path)) gzipped.set(path, gzipSync(readFileSync(join(webDir, path)), { level: 6 }));
    body = gzipped.get(path);
  } catch {
    return res.writeHead(404).end('not found');
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(path)] || 'application/octet-stream',
    'content-encoding': 'gzip',
    'cache-control': 'no-store',
  }).end(body);
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const url = `http://127.0.0.1:${server.address().port}/index.html?model=${encodeURIComponent(name)}`;
const profile = mkdtempSync(join(tmpdir(), 'reco-web100k-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  // One warm-up load (browser start-up, compile caches), then 5 measured loads.
  const readies = [];
  for (let k = 0; k < 6; k++) {
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
    if (k > 0) readies.push(await page.evaluate(() => window.__recoReady.ms));
  }
  readies.sort((a, b) => a - b);
  if (errors.length) throw new Error(`page errors: ${errors.join(' | ')}`);
  const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? null);
  // Baskets: 3 items each, from evenly spaced ranks of the popularity order (popular to rare).
  const baskets = await page.evaluate(() => {
    const rec = window.__recoReady.rec;
    const ids = rec.itemIds();
    const pop = rec.popularity();
    const order = [...ids.keys()].sort((a, b) => pop[b] - pop[a] || a - b);
    const out = [];
    for (let b = 0; b < 20; b++) {
      out.push([0, 1, 2].map((j) => ids[order[Math.floor(((b * 3 + j) * 997) % order.length)]]));
    }
    return out;
  });
  // The e2e test's protocol: a batch of 100 calls per basket, 5 rounds; per round the median
  // basket's time per call, the result the fastest round.
  const round = (typed) => page.evaluate(([baskets, typed]) => {
    const rec = window.__recoReady.rec;
    const call = (b) => (typed ? rec.recommendForItemsTyped(b, 10) : rec.recommendForItems(b, 10));
    baskets.forEach((b) => call(b));
    const per = baskets.map((b) => {
      const t = performance.now();
      for (let j = 0; j < 100; j++) call(b);
      return (performance.now() - t) / 100;
    });
    per.sort((x, y) => x - y);
    return { median: per[per.length >> 1], max: per[per.length - 1] };
  }, [baskets, typed]);
  const rounds = { typed: [], objects: [] };
  for (let r = 0; r < 5; r++) {
    rounds.typed.push(await round(true));
    rounds.objects.push(await round(false));
  }
  const best = (rs) => rs.reduce((a, b) => (b.median < a.median ? b : a));
  // The browser's answers = native `reco recommend --json` on the same file (through the index).
  let same = 0;
  for (const b of baskets.slice(0, 5)) {
    const mine = await page.evaluate((b) => window.__recoReady.rec.recommendForItems(b, 10).items.map((i) => i.itemId), b);
    const native = JSON.parse(execFileSync(bin, ['recommend', '--model', modelPath, '--items', b.join(','), '-n', '10', '--json'], { encoding: 'utf8' }));
    if (JSON.stringify(mine) === JSON.stringify(native.items.map((i) => i.item_id))) same += 1;
  }
  const raw = readFileSync(modelPath);
  console.log(JSON.stringify({
    model: name,
    items: info.items,
    format_version: info.format_version,
    precision: info.precision,
    file_bytes: raw.length,
    file_gzip9_bytes: gzipSync(raw, { level: 9 }).length,
    file_gzip6_bytes: gzipped.get(`models/${info.file}`).length,
    page_ready_ms: readies[Math.floor(readies.length / 2)],
    page_ready_runs_ms: readies,
    fold_in_top10_typed_ms: best(rounds.typed).median,
    fold_in_top10_typed_slowest_basket_ms: best(rounds.typed).max,
    fold_in_top10_objects_ms: best(rounds.objects).median,
    rounds_ms: rounds,
    js_heap_bytes: heap,
    native_parity: `${same}/5`,
    baskets: baskets.length,
  }));
} finally {
  await ctx.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
