// node --test against the built npm package (wasm/pkg): both targets, errors, options, and
// parity with the native `reco recommend --json` on the same f32 model file: a file of format
// version 1, and the same model exported with an approximate top-N index (format version 2),
// answered through the index by both.
// Env: RECO_MODEL (an f32 model file without an index, default web/models/als.safetensors),
// RECO_BIN (default target/release/reco).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const modelPath = process.env.RECO_MODEL || `${root}web/models/als.safetensors`;
const bin = process.env.RECO_BIN || `${root}target/release/reco`;
const bytes = new Uint8Array(readFileSync(modelPath));
const node = createRequire(import.meta.url)(`${root}wasm/pkg/node/reco_wasm.js`);
const web = await import(`${root}wasm/pkg/web/reco_wasm.js`);
web.initSync({ module: readFileSync(`${root}wasm/pkg/web/reco_wasm_bg.wasm`) });
const pkg = JSON.parse(readFileSync(`${root}wasm/pkg/package.json`, 'utf8'));

function native(args, model = modelPath) {
  return JSON.parse(execFileSync(bin, ['recommend', '--model', model, '--json', ...args], { encoding: 'utf8' }));
}

// The safetensors header of model bytes: its JSON and where the tensor data starts.
function header(b) {
  const len = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
  return { json: JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + len))), dataStart: 8 + len };
}

function assertParity(mine, theirs, what) {
  assert.equal(mine.fallback, theirs.fallback, `${what}: fallback`);
  assert.deepEqual(mine.unknownItems, theirs.unknown_items, `${what}: unknown ids`);
  assert.deepEqual(mine.items.map((i) => i.itemId), theirs.items.map((i) => i.item_id), `${what}: items and order`);
  mine.items.forEach((it, k) => {
    assert.ok(Math.abs(it.score - theirs.items[k].score) <= 1e-5, `${what}: score ${k} ${it.score} vs ${theirs.items[k].score}`);
    assert.equal(it.product, theirs.items[k].product);
  });
}

test('package.json exports both targets with types', () => {
  assert.equal(pkg.name, 'reco-wasm');
  assert.equal(pkg.exports['.'].node.default, './node/reco_wasm.js');
  assert.equal(pkg.exports['.'].default.default, './web/reco_wasm.js');
  for (const t of ['web', 'node']) {
    const dts = readFileSync(`${root}wasm/pkg/${t}/reco_wasm.d.ts`, 'utf8');
    assert.match(dts, /static fromBytes\(bytes: Uint8Array/);
    assert.match(dts, /recommendForItems\(itemIds: string\[\], n: number, options\?: RecommendOptions \| null\): Recommendations;/);
    assert.match(dts, /export interface TypedRecommendations/);
  }
  const gz = execFileSync('sh', ['-c', `gzip -9c '${root}wasm/pkg/web/reco_wasm_bg.wasm' | wc -c`], { encoding: 'utf8' });
  // 164 KiB: 150 until the ANN index and int8 factors (large catalogs in the browser) added
  // ~6.5 KB, 160 until the index's int8 scan with proven re-ranking added ~4.4 KB.
  assert.ok(Number(gz) <= 164 * 1024, `wasm is ${gz} bytes gzipped`);
});

for (const [name, mod] of [['node', node], ['web (initSync)', web]]) {
  test(`${name}: loads the model, catalog access, simd128`, () => {
    const rec = mod.Recommender.fromBytes(bytes);
    assert.equal(mod.simdBackend(), 'simd128');
    assert.equal(rec.kind, 'als');
    assert.equal(rec.itemIds().length, rec.itemCount);
    assert.equal(rec.itemNames().length, rec.itemCount);
    const i = rec.itemIndex('85123A');
    assert.equal(rec.itemId(i), '85123A');
    assert.match(rec.itemName(i), /HEART/);
    assert.equal(rec.itemIndex('no such item'), undefined);
    assert.ok(rec.userCount > 0 && rec.hasUser(rec.userIds()[0]));
    rec.free();
  });
}

test('corrupt, truncated and newer-version files throw Errors that say which', () => {
  const { Recommender } = node;
  const msg = (b) => { try { Recommender.fromBytes(b); } catch (e) { assert.ok(e instanceof Error); return e.message; } assert.fail('no error'); };
  assert.match(msg(bytes.subarray(0, 5)), /truncated/);
  assert.match(msg(bytes.subarray(0, bytes.length - 100)), /truncated/);
  assert.match(msg(new TextEncoder().encode('definitely not a model file')), /corrupt model file/);
  const headerEnd = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = new TextDecoder('latin1').decode(bytes.subarray(0, headerEnd));
  const at = text.indexOf('"reco.format_version":"1"');
  const future = bytes.slice();
  future[at + '"reco.format_version":"'.length] = '9'.charCodeAt(0);
  assert.match(msg(future), /incompatible model file: format version 9/);
});

test('options, unknown ids, typed arrays and similar items', () => {
  const rec = node.Recommender.fromBytes(bytes);
  const r = rec.recommendForItems(['85123A', 'nope'], 10, { exclude: ['21733', 'gone'] });
  assert.deepEqual(r.unknownItems, ['nope', 'gone']);
  assert.ok(!r.items.some((i) => i.itemId === '21733' || i.itemId === '85123A'));
  for (const k of ['product', 'itemId', 'score', 'index', 'fallback']) assert.ok(k in r.items[0]);
  const typed = rec.recommendForItemsTyped(['85123A', 'nope'], 10, { exclude: ['21733', 'gone'] });
  assert.ok(typed.indices instanceof Uint32Array && typed.scores instanceof Float32Array);
  assert.deepEqual([...typed.indices], r.items.map((i) => i.index));
  assert.deepEqual([...typed.scores], r.items.map((i) => Math.fround(i.score)));
  const only = rec.recommendForItems(['85123A'], 10, { candidates: ['22423', '47566'] });
  assert.deepEqual(only.items.map((i) => i.itemId).sort(), ['22423', '47566']);
  assert.throws(() => rec.recommendForItems(['85123A'], 5, { exlude: [] }), /unknown key `exlude`/);
  assert.throws(() => rec.recommend('12347', 0), /invalid n/);
  assert.throws(() => rec.similarItems('nope', 5), /unknown item nope/);
  assert.equal(rec.similarItems('85123A', 5).items.length, 5);
  assert.equal(rec.recommend('not a customer', 3).fallback, 'popularity');
  assert.equal(rec.recommendForItems([], 3).fallback, 'popularity');
});

// The queries both parity tests ask, native (`reco recommend --json` on `model`) against `rec`.
function parityCases(rec, model) {
  const users = rec.userIds();
  const cases = [
    [['85123A', '22423', '47566'], 10, {}],
    [['84879', '85099B', 'nope'], 20, {}],
    [['20725'], 10, { exclude: ['20727', '22382'] }],
    [['22720', '21212'], 5, { candidates: ['22423', '47566', '84879', '20725', '85099B', '21931'] }],
    [['22423'], 10, { includeSeen: true }],
  ];
  for (const [basket, n, o] of cases) {
    const args = ['--items', basket.join(','), '-n', String(n)];
    if (o.exclude) args.push('--exclude', o.exclude.join(','));
    if (o.candidates) args.push('--candidates', o.candidates.join(','));
    if (o.includeSeen) args.push('--include-seen');
    assertParity(rec.recommendForItems(basket, n, o), native(args, model), `basket ${basket}`);
  }
  for (const user of [users[0], users[1], users[Math.floor(users.length / 2)], 'nobody']) {
    assertParity(rec.recommend(user, 10), native(['--user', user, '-n', '10'], model), `user ${user}`);
    assertParity(rec.recommend(user, 10, { exclude: ['85123A', '22423'] }),
      native(['--user', user, '-n', '10', '--exclude', '85123A,22423'], model), `user ${user} with exclude`);
  }
}

test('parity with native `reco recommend --json` (f32 file, format version 1)', () => {
  assert.equal(header(bytes).json.__metadata__['reco.format_version'], '1');
  parityCases(node.Recommender.fromBytes(bytes), modelPath);
});

test('parity with native on a file with an ANN index (format version 2, approximate path)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'reco-ann-parity-'));
  try {
    const indexed = join(dir, 'als-ann.safetensors');
    execFileSync(bin, ['export', '--model', modelPath, '--out', indexed, '--ann', 'on', '-q'], { encoding: 'utf8' });
    // One list probed per query (the file's ann.probe set to 1): the index answers differ from
    // the exact scan's, so equal answers mean both sides searched the index the same way.
    const b = new Uint8Array(readFileSync(indexed));
    const { json, dataStart } = header(b);
    assert.equal(json.__metadata__['reco.format_version'], '2');
    const probe = json['ann.probe'];
    assert.equal(probe.dtype, 'U32');
    new DataView(b.buffer, b.byteOffset).setUint32(dataStart + probe.data_offsets[0], 1, true);
    writeFileSync(indexed, b);
    const rec = node.Recommender.fromBytes(b);
    parityCases(rec, indexed);
    const basket = ['85123A', '22423', '47566'];
    const ids = (r) => r.items.map((i) => i.item_id ?? i.itemId);
    const differs = [basket, ['84879', '85099B'], ['20725'], ['22720', '21212']].some((k) => {
      const exact = native(['--items', k.join(','), '-n', '10', '--exact'], indexed);
      return JSON.stringify(ids(exact)) !== JSON.stringify(ids(rec.recommendForItems(k, 10)));
    });
    assert.ok(differs, 'the index (one list probed) answered every basket exactly like the full scan');
    // The web target reads the same file the same way.
    const w = web.Recommender.fromBytes(b);
    assertParity(w.recommendForItems(basket, 10), native(['--items', basket.join(','), '-n', '10'], indexed), 'web target');
    w.free();
    rec.free();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
