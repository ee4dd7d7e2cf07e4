// Test and benchmark helpers: run the built worker under workerd (the Workers runtime) and
// `reco serve` on 127.0.0.1, and fetch from them with a time limit.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import workerd from 'workerd';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** The workerd binary shipped in the npm package. */
export const WORKERD = workerd.default;
/** The compatibility date of the worker (also in wrangler.toml). */
export const COMPATIBILITY_DATE = '2026-04-01';

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/**
 * `fetch` that gives up after `ms` milliseconds.
 * @param {string} url
 * @param {RequestInit} [init]
 * @param {number} [ms]
 */
export function fetchWithin(url, init = {}, ms = 10_000) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
}

/** Polls `url` until it answers (any status), at most `ms` milliseconds. */
async function waitForHttp(url, proc, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${url}: the process exited with ${proc.exitCode}:\n${proc.output()}`);
    try {
      return await fetchWithin(url, {}, 1000);
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${ms} ms:\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Spawns a process whose output is kept (for error messages) and that dies with the tests. */
function spawnKept(cmd, args, opts = {}) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  const keep = (d) => {
    out = (out + d).slice(-20_000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  proc.output = () => out;
  proc.stop = () =>
    new Promise((ok) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return ok();
      proc.once('exit', () => ok());
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
    });
  return proc;
}

/** A capnp string literal. */
const capnpString = (s) => JSON.stringify(String(s));

/**
 * Writes a workerd config for the built worker folder `dist`: every `.js` as an ES module,
 * the `.wasm` as a wasm module, `models/*.safetensors` as data modules, `bindings` as text
 * bindings, and outbound fetches allowed to 127.0.0.1 (for `MODEL_SOURCE = "url"` tests).
 * @param {{ dist: string, port: number, bindings?: Record<string, string> }} options
 * @returns {string} the config file path
 */
export function writeWorkerdConfig({ dist, port, bindings = {} }) {
  const dir = mkdtempSync(join(tmpdir(), 'reco-workerd-'));
  const modules = [];
  // workerd reads `embed` paths relative to the config file only.
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else {
        const name = relative(dist, full);
        const kind = name.endsWith('.js') ? 'esModule' : name.endsWith('.wasm') ? 'wasm' : name.endsWith('.safetensors') ? 'data' : null;
        if (kind) modules.push(`(name = ${capnpString(name)}, ${kind} = embed ${capnpString(relative(dir, full))})`);
      }
    }
  };
  walk(dist);
  modules.sort((a, b) => (a.includes('"index.js"') ? -1 : b.includes('"index.js"') ? 1 : 0));
  const binds = Object.entries(bindings).map(([k, v]) => `(name = ${capnpString(k)}, text = ${capnpString(v)})`);
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "loopback", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    ${modules.join(',\n    ')}
  ],
  bindings = [${binds.join(', ')}],
  compatibilityDate = "${COMPATIBILITY_DATE}",
  globalOutbound = "loopback",
);
`;
  const file = join(dir, 'config.capnp');
  writeFileSync(file, config);
  return file;
}

/**
 * Starts workerd on 127.0.0.1 with the worker of `dist` and waits until it answers.
 * @param {{ dist: string, bindings?: Record<string, string>, probe?: string }} options
 *   probe: a path fetched to check readiness (default `/no-such-route`, which loads no model)
 * @returns {Promise<{ url: string, proc: import('node:child_process').ChildProcess, stop: () => Promise<void> }>}
 */
export async function startWorkerd({ dist, bindings = {}, probe = '/no-such-route' }) {
  const port = await freePort();
  const config = writeWorkerdConfig({ dist, port, bindings });
  const proc = spawnKept(WORKERD, ['serve', config, '--verbose']);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url + probe, proc, 15_000);
  return { url, proc, stop: () => proc.stop() };
}

/**
 * Starts `reco serve` on 127.0.0.1 with the models of `modelsDir` and waits until it answers.
 * @param {{ modelsDir: string }} options
 */
export async function startRecoServe({ modelsDir }) {
  const port = await freePort();
  const bin = join(ROOT, 'target/release/reco');
  const proc = spawnKept(bin, ['serve', '--models', modelsDir, '--host', '127.0.0.1', '--port', String(port)], {
    env: { ...process.env, RECO_LOG: 'warn' },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url + '/', proc, 30_000);
  return { url, proc, stop: () => proc.stop() };
}
