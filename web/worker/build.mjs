#!/usr/bin/env node
// Assembles the deployable worker in web/worker/dist/: the worker source, the reco-wasm
// package's `--target web` build (reco_wasm.js + reco_wasm_bg.wasm), build-info.js (version,
// bundled model files) and, with --bundle, the model files as data modules (dist/models/).
//
//   node web/worker/build.mjs [--bundle FILE]... [--pkg DIR] [--out DIR]
//
// --pkg defaults to wasm/pkg/web (run scripts/build-wasm.sh first), --out to web/worker/dist.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

/**
 * Builds the worker folder.
 * @param {{ out?: string, pkg?: string, bundle?: string[] }} options
 * @returns {string} the output folder
 */
export function buildWorker({ out = join(here, 'dist'), pkg = join(root, 'wasm/pkg/web'), bundle = [] } = {}) {
  for (const f of ['reco_wasm.js', 'reco_wasm_bg.wasm']) {
    if (!existsSync(join(pkg, f))) throw new Error(`${join(pkg, f)} is missing: run scripts/build-wasm.sh`);
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'models'), { recursive: true });
  for (const f of readdirSync(join(here, 'src'))) copyFileSync(join(here, 'src', f), join(out, f));
  copyFileSync(join(pkg, 'reco_wasm.js'), join(out, 'reco_wasm.js'));
  copyFileSync(join(pkg, 'reco_wasm_bg.wasm'), join(out, 'reco_wasm_bg.wasm'));
  const bundled = {};
  for (const file of bundle) {
    const name = basename(file);
    if (!name.endsWith('.safetensors')) throw new Error(`--bundle ${file}: not a .safetensors file`);
    copyFileSync(file, join(out, 'models', name));
    const modified = statSync(file).mtime.toISOString().replace(/\.\d{3}Z$/, 'Z');
    bundled[name] = { modified };
  }
  const pkgJson = join(pkg, '..', 'package.json');
  const version = existsSync(pkgJson) ? JSON.parse(readFileSync(pkgJson, 'utf8')).version : '0.0.0';
  writeFileSync(
    join(out, 'build-info.js'),
    `// Written by web/worker/build.mjs.\n` +
      `/** The reco version (the \`version\` of GET /). */\n` +
      `export const VERSION = ${JSON.stringify(version)};\n` +
      `/** Model files bundled as data modules (dist/models/), with their modification times. */\n` +
      `export const BUNDLED_MODELS = ${JSON.stringify(bundled, null, 2)};\n`,
  );
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      bundle: { type: 'string', multiple: true, default: [] },
      pkg: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const out = buildWorker({
    out: values.out && resolve(values.out),
    pkg: values.pkg && resolve(values.pkg),
    bundle: values.bundle.map((f) => resolve(f)),
  });
  console.log(`worker -> ${out} (bundled models: ${values.bundle.map((f) => basename(f)).join(', ') || 'none'})`);
}
