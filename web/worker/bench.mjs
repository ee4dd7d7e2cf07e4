#!/usr/bin/env node
// Benchmarks the edge worker under workerd on 127.0.0.1 with the Online Retail web models:
// bundle size (raw / gzip, without model files), cold start (process start -> first answer,
// model load included), warm latency p50 / p99 over sequential requests, workerd RSS.
//
//   node web/worker/bench.mjs [--requests 2000] [--runs 5] [--models web/models]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { buildWorker } from './build.mjs';
import { ROOT, fetchWithin, startWorkerd } from './harness.mjs';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '5' },
    models: { type: 'string', default: join(ROOT, 'web/models') },
  },
});
const REQUESTS = Number(args.requests);
const RUNS = Number(args.runs);
const MODEL_FILES = ['als.safetensors', 'popularity.safetensors'];

/** The `q` quantile (0..1) of `xs` (nearest rank). */
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** Resident set size of process `pid` in MiB (Linux). */
function rssMiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

/** Sizes of the deployable files without the model files. */
function bundleSize(dist) {
  const files = readdirSync(dist).filter((f) => statSync(join(dist, f)).isFile());
  let raw = 0;
  let gz = 0;
  const rows = files.map((f) => {
    const bytes = readFileSync(join(dist, f));
    const z = gzipSync(bytes, { level: 9 }).length;
    raw += bytes.length;
    gz += z;
    return `  ${f.padEnd(20)} ${kib(bytes.length).padStart(11)} ${kib(z).padStart(11)}`;
  });
  return { raw, gz, rows };
}

/**
 * Linear memory of the worker's wasm (the same `--target web` build, run here in Node) after
 * loading `files` and answering a few requests: the part of the isolate's 128 MB the models use.
 */
async function wasmMemoryMiB(dist, files) {
  const glue = await import(pathToFileURL(join(dist, 'reco_wasm.js')).href);
  const exports = glue.initSync({ module: new WebAssembly.Module(readFileSync(join(dist, 'reco_wasm_bg.wasm'))) });
  const recs = files.map((f) => glue.Recommender.fromBytes(readFileSync(join(dist, 'models', f))));
  for (const rec of recs) {
    rec.recommend('17850', 100);
    rec.recommendForItems(['85123A', '22423'], 100);
  }
  return exports.memory.buffer.byteLength / 2 ** 20;
}

/** Times `count` sequential requests made by `request(i)`; returns milliseconds each. */
async function timeSequential(count, request) {
  const times = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const r = await request(i);
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`request ${i}: ${r.status}`);
    times.push(performance.now() - t);
  }
  return times;
}

const work = mkdtempSync(join(tmpdir(), 'reco-worker-bench-'));
try {
  const dist = buildWorker({ out: join(work, 'dist'), bundle: MODEL_FILES.map((f) => join(args.models, f)) });
  const { Recommender } = createRequire(import.meta.url)(join(ROOT, 'wasm/pkg/node/reco_wasm.js'));
  const als = Recommender.fromBytes(readFileSync(join(args.models, 'als.safetensors')));
  const users = als.userIds();
  const items = als.itemIds();
  als.free();

  const size = bundleSize(dist);
  console.log(`bundle without models: ${kib(size.raw)} raw, ${kib(size.gz)} gzip (sum of files, gzip -9)`);
  for (const r of size.rows) console.log(r);
  for (const f of MODEL_FILES) {
    const bytes = readFileSync(join(dist, 'models', f));
    console.log(`  model ${f}: ${kib(bytes.length)} raw, ${kib(gzipSync(bytes, { level: 9 }).length)} gzip`);
  }

  console.log(`wasm linear memory with both models loaded: ${(await wasmMemoryMiB(dist, MODEL_FILES)).toFixed(1)} MiB`);

  // Cold start: spawn workerd -> first /recommend answer (models loaded by that request).
  const cold = [];
  const firstRequest = [];
  let rss = {};
  for (let run = 0; run < RUNS; run++) {
    const t0 = performance.now();
    const w = await startWorkerd({ dist, probe: '/no-such-route' });
    const ready = performance.now();
    const before = rssMiB(w.proc.pid);
    const r = await fetchWithin(`${w.url}/recommend/als/${encodeURIComponent(users[run])}?n=10`);
    await r.arrayBuffer();
    const t1 = performance.now();
    if (r.status !== 200) throw new Error(`cold request: ${r.status}`);
    cold.push(t1 - t0);
    firstRequest.push(t1 - ready);
    if (run === RUNS - 1) {
      rss = { before, loaded: rssMiB(w.proc.pid) };
      const endpoints = {
        'GET /recommend/als/{user}?n=10': (i) => fetchWithin(`${w.url}/recommend/als/${encodeURIComponent(users[i % users.length])}?n=10`),
        'POST /recommend/als (3-item basket)': (i) =>
          fetchWithin(`${w.url}/recommend/als`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ items: [items[i % items.length], items[(i * 7 + 1) % items.length], items[(i * 13 + 2) % items.length]], n: 10 }),
          }),
        'GET /similar/als/{item}?n=10': (i) => fetchWithin(`${w.url}/similar/als/${encodeURIComponent(items[i % items.length])}?n=10`),
        'GET /recommend/popularity/{user}?n=10': (i) => fetchWithin(`${w.url}/recommend/popularity/${encodeURIComponent(users[i % users.length])}?n=10`),
      };
      console.log(`\nwarm latency, ${REQUESTS} sequential requests each (client-side, keep-alive, 127.0.0.1):`);
      for (const [name, request] of Object.entries(endpoints)) {
        await timeSequential(50, request);
        const t = await timeSequential(REQUESTS, request);
        console.log(`  ${name.padEnd(40)} p50 ${quantile(t, 0.5).toFixed(3)} ms  p99 ${quantile(t, 0.99).toFixed(3)} ms`);
      }
      rss.warm = rssMiB(w.proc.pid);
    }
    await w.stop();
  }
  const fmt = (xs) => `median ${quantile(xs, 0.5).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}; ${xs.length} runs)`;
  console.log(`\ncold start, workerd spawn -> first answer incl. model load: ${fmt(cold)}`);
  console.log(`  of which the first request (both models loaded from bundled data modules): ${fmt(firstRequest)}`);
  console.log(
    `workerd RSS: ${rss.before.toFixed(1)} MiB started, ${rss.loaded.toFixed(1)} MiB after loading the models ` +
      `(+${(rss.loaded - rss.before).toFixed(1)} MiB), ${rss.warm.toFixed(1)} MiB after the warm runs`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
