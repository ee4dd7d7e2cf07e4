// The edge worker under the real Workers runtime (workerd; Miniflare for R2), driven over HTTP
// on 127.0.0.1 and compared with `reco serve` on the same model files: same statuses, JSON
// bodies (scores within 1e-5), fallback headers and errors; plus the model sources (bundle,
// URL, R2), missing / corrupt model files (503 JSON) and the wrangler.toml build.
//
// Needs: scripts/build-wasm.sh (wasm/pkg), target/release/reco, web/models/{als,ease,popularity,rp3beta}.safetensors.
// Run: node --test web/worker/test/   (scripts/test-worker.sh does everything)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Miniflare } from 'miniflare';
import { buildWorker } from '../build.mjs';
import { COMPATIBILITY_DATE, ROOT, fetchWithin, freePort, startRecoServe, startWorkerd } from '../harness.mjs';

// A factor model, the item-item models (EASE with signed weights, RP3beta with its popularity
// fill) and popularity: every scoring path of the core.
const MODELS = ['als', 'ease', 'popularity', 'rp3beta'];
const MODEL_FILES = MODELS.map((m) => `${m}.safetensors`);
/** Headers whose values must be the same on both sides (absent on both counts as the same). */
const COMPARED_HEADERS = [
  'content-type',
  'x-reco-model',
  'x-reco-fallback',
  'x-reco-unknown-items',
  'access-control-allow-origin',
  'access-control-expose-headers',
  'allow',
];
const SCORE_TOLERANCE = 1e-5;

// Private copies, so the server and the worker read the very same bytes and modification times
// even if web/models/ is rewritten meanwhile.
const work = mkdtempSync(join(tmpdir(), 'reco-worker-test-'));
const modelsDir = join(work, 'models');
const dist = join(work, 'dist');
const { Recommender: NodeRecommender } = createRequire(import.meta.url)(join(ROOT, 'wasm/pkg/node/reco_wasm.js'));

let server;
let worker;
/** Ids read from the model file: a sample of known users and items. */
const ids = { users: [], items: [] };

before(async () => {
  mkdirSync(modelsDir, { recursive: true });
  for (const f of MODEL_FILES) copyFileSync(join(ROOT, 'web/models', f), join(modelsDir, f));
  buildWorker({ out: dist, bundle: MODEL_FILES.map((f) => join(modelsDir, f)) });
  const als = NodeRecommender.fromBytes(readFileSync(join(modelsDir, 'als.safetensors')));
  const users = als.userIds();
  const items = als.itemIds();
  const every = (list, k) => list.filter((_, i) => i % Math.ceil(list.length / k) === 0);
  ids.users = every(users, 25);
  ids.items = every(items, 25);
  als.free();
  [server, worker] = await Promise.all([startRecoServe({ modelsDir }), startWorkerd({ dist })]);
});

after(async () => {
  console.log(`near-tie swaps (scores within ${SCORE_TOLERANCE}): ${nearTieSwaps} of ${comparedPositions} list positions`);
  await Promise.all([server?.stop(), worker?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

/**
 * Fetches `path` from both `reco serve` and the worker.
 * @returns {Promise<[{status, headers, text}, {status, headers, text}]>}
 */
async function both(path, init = {}, workerUrl = worker.url) {
  const get = async (base) => {
    const r = await fetchWithin(base + path, init);
    return { status: r.status, headers: r.headers, text: await r.text() };
  };
  return Promise.all([get(server.url), get(workerUrl)]);
}

const close = (a, b) => Math.abs(a - b) <= SCORE_TOLERANCE;
/** Positions where the two sides order near-tied items differently (reported at the end). */
let nearTieSwaps = 0;
let comparedPositions = 0;

/**
 * Asserts two item lists are the same items in the same order, scores within 1e-5. Items whose
 * scores tie within 1e-5 (float noise: wasm simd128 vs native AVX2 sums) may swap places, also
 * across the list's end; every other difference fails.
 */
function assertSameList(expected, actual, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const byId = new Map(expected.map((e) => [e.item_id, e]));
  const last = expected.at(-1)?.score;
  expected.forEach((e, i) => {
    const a = actual[i];
    assert.ok(close(a.score, e.score), `${what}: rank ${i} score ${a.score} vs ${e.score}`);
    const twin = byId.get(a.item_id);
    comparedPositions++;
    if (a.item_id !== e.item_id) nearTieSwaps++;
    if (twin) {
      assert.ok(close(a.score, twin.score), `${what}: ${a.item_id} score ${a.score} vs ${twin.score}`);
      assert.deepEqual(
        { product: a.product, fallback: a.fallback ?? false },
        { product: twin.product, fallback: twin.fallback ?? false },
        `${what}: ${a.item_id}`,
      );
    } else {
      assert.ok(close(a.score, last), `${what}: ${a.item_id} is not in reco serve's list nor tied with its last item`);
    }
  });
}

/**
 * Asserts the worker answered `path` exactly as `reco serve` did: status, compared headers,
 * JSON body (lists: items and order, scores within 1e-5). `looseMessage`: error messages may
 * differ in wording after their prefix (JSON parser messages).
 */
async function assertParity(path, init = {}, { looseMessage = null, workerUrl } = {}) {
  const [s, w] = await both(path, init, workerUrl);
  const what = `${init.method || 'GET'} ${path}`;
  assert.equal(w.status, s.status, `${what}: status (worker body ${w.text})`);
  for (const h of COMPARED_HEADERS) assert.equal(w.headers.get(h), s.headers.get(h), `${what}: header ${h}`);
  assert.ok(w.headers.get('x-request-id'), `${what}: x-request-id`);
  const [sb, wb] = [JSON.parse(s.text), JSON.parse(w.text)];
  if (Array.isArray(sb)) {
    assertSameList(sb, wb, what);
  } else if (looseMessage) {
    assert.ok(wb.error.startsWith(looseMessage), `${what}: worker error ${wb.error}`);
    assert.ok(sb.error.startsWith(looseMessage), `${what}: server error ${sb.error}`);
    assert.deepEqual({ ...wb, error: '' }, { ...sb, error: '' }, what);
  } else {
    assert.deepEqual(wb, sb, what);
  }
  return { server: s, worker: w, body: wb };
}

const post = (body) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

describe('parity with reco serve (bundled models, workerd)', () => {
  test('GET / lists the same models (kind, file, format version, users, items, trained_at)', async () => {
    const { body } = await assertParity('/');
    assert.deepEqual(Object.keys(body.models), MODELS);
  });

  test('known users: same items, order and scores for every model, n = 1, 10, 100', async () => {
    for (const model of MODELS) {
      for (const user of ids.users) {
        for (const n of [1, 10, 100]) await assertParity(`/recommend/${model}/${encodeURIComponent(user)}?n=${n}`);
      }
    }
  });

  test('default n, repeated n, +n and percent-encoded ids', async () => {
    const user = encodeURIComponent(ids.users[1]);
    for (const q of ['', '?', '?x=1', '?n=3&n=7', '?n=+5', '?n=007']) await assertParity(`/recommend/als/${user}${q}`);
    await assertParity('/recommend/als/%31%37%38%35%30?n=5');
    await assertParity(`/similar/als/${encodeURIComponent('85123A')}?n=5`);
  });

  test('unknown users get the popularity fallback (x-reco-fallback: popularity)', async () => {
    for (const model of MODELS) {
      for (const user of ['nobody', '00000', 'a%20b', '%E2%9C%93']) {
        const { worker: w } = await assertParity(`/recommend/${model}/${user}?n=20`);
        assert.equal(w.headers.get('x-reco-fallback'), 'popularity');
      }
    }
  });

  test('baskets: fold-in, exclusions, unknown ids (x-reco-unknown-items), empty and unknown-only baskets', async () => {
    const [a, b, c] = ids.items;
    const baskets = [
      { items: [a] },
      { items: [a, b, c], n: 25 },
      { items: ['85123A', '22423'], n: 10, exclude: ['21733'] },
      { items: [a, 'no-such-item', 'another'], n: 5 },
      { items: [a], exclude: ['nope'], n: 3 },
      { items: [] },
      { items: ['unknown-1', 'unknown-2'], n: 4 },
      { items: [a, b], n: null, extra: 'ignored' },
      { items: [b], n: 10000 },
    ];
    for (const model of MODELS) {
      for (const basket of baskets) await assertParity(`/recommend/${model}`, post(basket));
    }
  });

  test('similar items; popularity has none (422); unknown item (404)', async () => {
    for (const item of ids.items) {
      for (const model of ['als', 'ease', 'rp3beta']) await assertParity(`/similar/${model}/${encodeURIComponent(item)}?n=10`);
    }
    await assertParity('/similar/als/85123A?n=1');
    await assertParity('/similar/popularity/85123A');
    await assertParity('/similar/als/no-such-item');
  });

  test('unknown model (404 with the model list) on every endpoint', async () => {
    await assertParity('/recommend/nope/17850');
    await assertParity('/recommend/nope', post({ items: ['85123A'] }));
    await assertParity('/similar/nope/85123A');
  });

  test('bad n: 0, -1, abc, too large, empty, overflow (400)', async () => {
    for (const n of ['0', '-1', 'abc', '10001', '', '99999999999999999999', '1.5', '%35']) {
      await assertParity(`/recommend/als/17850?n=${n}`);
      await assertParity(`/similar/als/85123A?n=${n}`);
    }
    await assertParity('/recommend/als/17850?n');
    await assertParity('/recommend/nope/17850?n=0');
    for (const n of [0, -1, 10001]) await assertParity('/recommend/als', post({ items: ['85123A'], n }));
  });

  test('malformed basket bodies (400), oversized body (413)', async () => {
    const invalid = 'invalid JSON body: ';
    for (const body of ['{', '', 'null', '[1]', '{"n":3}', '{"items":5}', '{"items":[1]}', '{"items":["a"],"n":"3"}',
      '{"items":["a"],"n":1.5}', '{"items":["a"],"exclude":null}', '{"items":null}']) {
      await assertParity('/recommend/als', post(body), { looseMessage: invalid });
    }
    await assertParity('/recommend/als', post({ items: Array.from({ length: 10_000 }, (_, i) => `item-${i}`) }));
  });

  test('unrouted paths (404), wrong methods (405 + allow), CORS preflight', async () => {
    for (const p of ['/nothing', '/recommend', '/recommend/als/17850/x', '/similar/als']) await assertParity(p);
    await assertParity('/', { method: 'DELETE' });
    await assertParity('/recommend/als/17850', { method: 'POST', body: '{}' });
    await assertParity('/recommend/als', { method: 'PUT', body: '{}' });
    await assertParity('/similar/als/85123A', { method: 'POST', body: '{}' });
    const preflight = {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    };
    const [s, w] = await both('/recommend/als', preflight);
    assert.equal(w.status, s.status);
    for (const h of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-max-age']) {
      assert.equal(w.headers.get(h), s.headers.get(h), `preflight ${h}`);
    }
  });
});

/** A static file server on 127.0.0.1 for the URL source: `files` maps paths to bytes. */
async function startFileServer(files) {
  const port = await freePort();
  const srv = createServer((req, res) => {
    const body = files[new URL(req.url, 'http://x').pathname];
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'last-modified': new Date(0).toUTCString() }).end(body);
  });
  await new Promise((ok) => srv.listen(port, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${port}`, stop: () => new Promise((ok) => srv.close(ok)) };
}

/** Asserts a 503 JSON error naming `file`. */
async function assert503(url, file, expectedPart) {
  const r = await fetchWithin(url);
  assert.equal(r.status, 503, url);
  assert.equal(r.headers.get('content-type'), 'application/json');
  const body = await r.json();
  assert.equal(body.status, 503);
  assert.ok(body.error.includes(file) && body.error.includes(expectedPart), body.error);
  assert.ok(body.failed.some((f) => f.file === file), JSON.stringify(body.failed));
  return body;
}

describe('model sources and failures', () => {
  test('URL source (fetched from reco serve /models/) answers as reco serve', async () => {
    const w = await startWorkerd({
      dist,
      bindings: { MODEL_SOURCE: 'url', MODEL_BASE_URL: `${server.url}/models/`, MODEL_FILES: MODEL_FILES.join(',') },
    });
    try {
      const opts = { workerUrl: w.url };
      await assertParity(`/recommend/als/${ids.users[2]}?n=10`, {}, opts);
      await assertParity('/recommend/als/nobody', {}, opts);
      await assertParity('/recommend/popularity', post({ items: ['85123A', 'x'] }), opts);
      await assertParity('/similar/als/85123A', {}, opts);
      const health = await (await fetchWithin(`${w.url}/`)).json();
      assert.deepEqual(Object.keys(health.models), MODELS);
    } finally {
      await w.stop();
    }
  });

  test('a missing model file gives 503 JSON; the other models keep serving', async () => {
    const w = await startWorkerd({ dist, bindings: { MODEL_FILES: 'als.safetensors,gone.safetensors' } });
    try {
      await assert503(`${w.url}/`, 'gone.safetensors', 'not bundled');
      await assert503(`${w.url}/recommend/gone/17850`, 'gone.safetensors', 'not bundled');
      const ok = await fetchWithin(`${w.url}/recommend/als/17850?n=3`);
      assert.equal(ok.status, 200);
      assert.equal((await ok.json()).length, 3);
    } finally {
      await w.stop();
    }
  });

  test('corrupt, truncated and missing files from a URL give 503 JSON, not a crash', async () => {
    const good = readFileSync(join(modelsDir, 'als.safetensors'));
    const files = {
      '/m/truncated.safetensors': good.subarray(0, 100_000),
      '/m/garbage.safetensors': Buffer.from('this is not a model file'),
    };
    const fileServer = await startFileServer(files);
    const w = await startWorkerd({
      dist,
      bindings: {
        MODEL_SOURCE: 'url',
        MODEL_BASE_URL: `${fileServer.url}/m/`,
        MODEL_FILES: 'truncated.safetensors,garbage.safetensors,absent.safetensors',
      },
    });
    try {
      const body = await assert503(`${w.url}/recommend/als/17850`, 'truncated.safetensors', 'corrupt model file');
      assert.equal(body.failed.length, 3);
      await assert503(`${w.url}/`, 'garbage.safetensors', 'corrupt model file');
      await assert503(`${w.url}/`, 'absent.safetensors', '404');
      const again = await fetchWithin(`${w.url}/similar/als/85123A`);
      assert.equal(again.status, 503, 'the isolate is still alive and answering');
      assert.equal(w.proc.exitCode, null);
    } finally {
      await Promise.all([w.stop(), fileServer.stop()]);
    }
  });

  test('a bad configuration gives 503 JSON', async () => {
    const w = await startWorkerd({ dist, bindings: { MODEL_SOURCE: 'ftp' } });
    try {
      const r = await fetchWithin(`${w.url}/recommend/als/17850`);
      assert.equal(r.status, 503);
      assert.match((await r.json()).error, /MODEL_SOURCE must be bundle, url or r2/);
    } finally {
      await w.stop();
    }
  });

  test('R2 source (Miniflare bucket) answers as reco serve; a missing object is 503', async () => {
    const port = await freePort();
    const modules = ['index.js', 'api.js', 'models.js', 'build-info.js', 'reco_wasm.js'].map((f) => ({
      type: 'ESModule',
      path: join(dist, f),
    }));
    modules.push({ type: 'CompiledWasm', path: join(dist, 'reco_wasm_bg.wasm') });
    const mf = new Miniflare({
      modules,
      modulesRoot: dist,
      compatibilityDate: COMPATIBILITY_DATE,
      r2Buckets: ['MODELS'],
      bindings: { MODEL_SOURCE: 'r2', MODEL_PREFIX: 'reco/', MODEL_FILES: MODEL_FILES.join(',') },
      host: '127.0.0.1',
      port,
    });
    try {
      const url = (await mf.ready).toString().replace(/\/$/, '');
      const bucket = await mf.getR2Bucket('MODELS');
      await bucket.put('reco/als.safetensors', new Uint8Array(readFileSync(join(modelsDir, 'als.safetensors'))));
      await assert503(`${url}/`, 'popularity.safetensors', 'no object `reco/popularity.safetensors`');
      const opts = { workerUrl: url };
      await assertParity(`/recommend/als/${ids.users[3]}?n=10`, {}, opts);
      await assertParity('/recommend/als', post({ items: ['85123A'], n: 7 }), opts);
    } finally {
      await mf.dispose();
    }
  });
});

test('wrangler.toml builds a deployable worker (wrangler deploy --dry-run)', async () => {
  const out = join(work, 'wrangler-out');
  const wranglerDir = join(work, 'wrangler');
  mkdirSync(wranglerDir, { recursive: true });
  // The real wrangler.toml, pointed at this test's dist folder.
  const toml = readFileSync(join(ROOT, 'web/worker/wrangler.toml'), 'utf8')
    .replace('main = "dist/index.js"', `main = ${JSON.stringify(join(dist, 'index.js'))}`)
    .replace('base_dir = "dist"', `base_dir = ${JSON.stringify(dist)}`);
  writeFileSync(join(wranglerDir, 'wrangler.toml'), toml);
  const { stdout } = await promisify(execFile)(
    join(ROOT, 'node_modules/.bin/wrangler'),
    ['deploy', '--dry-run', '--env', '', '--outdir', out],
    { cwd: wranglerDir, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' }, timeout: 90_000 },
  );
  assert.match(stdout, /reco_wasm_bg\.wasm\s*│\s*compiled-wasm/);
  assert.match(stdout, /models\/als\.safetensors\s*│\s*buffer/);
  assert.match(stdout, /--dry-run: exiting now/);
});
