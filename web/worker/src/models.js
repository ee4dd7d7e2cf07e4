// The worker's models: where the files come from (bundled data modules, a URL, an R2 bucket),
// lazy loading on the first request, and the URL names `reco serve` gives them.
import { initSync, Recommender } from './reco_wasm.js';
import wasmModule from './reco_wasm_bg.wasm';
import { BUNDLED_MODELS } from './build-info.js';

/** How long a file that failed to load is left alone before a request tries it again. */
export const RETRY_AFTER_MS = 10_000;

/**
 * One loaded model file.
 * @typedef {object} ModelEntry
 * @property {string} name URL name (the kind, or the file stem when two files share a kind).
 * @property {string} file File name.
 * @property {Recommender} rec The wasm recommender.
 * @property {number} formatVersion `reco.format_version` from the file header.
 * @property {string | null} trainedAt Training time (RFC 3339), else the file's modification time.
 */

/**
 * A model file that failed to load.
 * @typedef {object} LoadFailure
 * @property {string} file
 * @property {string} error
 */

/**
 * Where the model files come from, read from the worker's bindings.
 * @typedef {object} ModelConfig
 * @property {'bundle' | 'url' | 'r2'} source
 * @property {string[]} files Model file names, sorted (the order `reco serve` loads a folder in).
 * @property {string} [baseUrl] For `url`: the folder URL the files are fetched from.
 * @property {R2Bucket} [bucket] For `r2`: the bucket binding.
 * @property {string} [prefix] For `r2`: key prefix of the files.
 */

/** Raised when the configuration itself is unusable (answered with 503, like a failed load). */
export class ConfigError extends Error {}

/**
 * Reads the model configuration from the worker's environment:
 * `MODEL_SOURCE` (`bundle` default, `url`, `r2`), `MODEL_FILES` (comma-separated file names;
 * for `bundle` it defaults to every bundled file), `MODEL_BASE_URL` (for `url`),
 * `MODEL_BUCKET` (for `r2`: the name of the R2 binding, default `MODELS`) and `MODEL_PREFIX`.
 * @param {Record<string, any>} env
 * @returns {ModelConfig}
 */
export function modelConfig(env) {
  const source = String(env.MODEL_SOURCE || 'bundle').trim();
  if (!['bundle', 'url', 'r2'].includes(source)) {
    throw new ConfigError(`MODEL_SOURCE must be bundle, url or r2, got \`${source}\``);
  }
  const listed = String(env.MODEL_FILES || '')
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  const files = [...new Set(listed.length ? listed : source === 'bundle' ? Object.keys(BUNDLED_MODELS) : [])].sort();
  if (files.length === 0) {
    throw new ConfigError(`no model files configured: set MODEL_FILES (source \`${source}\`)`);
  }
  for (const f of files) {
    if (f.includes('/') || f.includes('\\') || f === '.' || f === '..') {
      throw new ConfigError(`MODEL_FILES: \`${f}\` must be a plain file name`);
    }
  }
  switch (source) {
    case 'bundle':
      return { source, files };
    case 'url':
      if (!env.MODEL_BASE_URL) throw new ConfigError('MODEL_SOURCE = "url" needs MODEL_BASE_URL');
      return { source, files, baseUrl: String(env.MODEL_BASE_URL).replace(/\/?$/, '/') };
    case 'r2': {
      const binding = env.MODEL_BUCKET || 'MODELS';
      const bucket = env[binding];
      if (!bucket || typeof bucket.get !== 'function') {
        throw new ConfigError(`MODEL_SOURCE = "r2" needs an R2 bucket binding named \`${binding}\``);
      }
      return { source, files, bucket, prefix: env.MODEL_PREFIX || '' };
    }
  }
}

/**
 * The bytes of one model file and its modification time (RFC 3339, when the source knows it).
 * @param {ModelConfig} config
 * @param {string} file
 * @returns {Promise<{ bytes: Uint8Array, modified: string | null }>}
 */
async function fetchModelFile(config, file) {
  switch (config.source) {
    case 'bundle': {
      const info = BUNDLED_MODELS[file];
      if (!info) throw new Error(`model file \`${file}\` is not bundled with the worker`);
      const mod = await import(`./models/${file}`);
      return { bytes: new Uint8Array(mod.default), modified: info.modified };
    }
    case 'url': {
      const url = new URL(file, config.baseUrl).toString();
      const resp = await fetch(url);
      if (!resp.ok) throw new Error(`GET ${url}: ${resp.status} ${resp.statusText}`.trim());
      const modified = resp.headers.get('last-modified');
      return { bytes: new Uint8Array(await resp.arrayBuffer()), modified: modified ? rfc3339(new Date(modified)) : null };
    }
    case 'r2': {
      const key = config.prefix + file;
      const object = await config.bucket.get(key);
      if (!object) throw new Error(`no object \`${key}\` in the R2 bucket`);
      return { bytes: new Uint8Array(await object.arrayBuffer()), modified: rfc3339(object.uploaded) };
    }
  }
}

/**
 * Reads reco's metadata from a safetensors header (8-byte little-endian length, then JSON).
 * @param {Uint8Array} bytes
 * @returns {Record<string, string>}
 */
function safetensorsMetadata(bytes) {
  if (bytes.length < 8) return {};
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = Number(view.getBigUint64(0, true));
  if (len > bytes.length - 8) return {};
  try {
    return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))).__metadata__ || {};
  } catch {
    return {};
  }
}

/** RFC 3339 UTC time with seconds precision, as `reco serve` writes it; null when invalid. */
function rfc3339(date) {
  return date instanceof Date && !Number.isNaN(date.getTime()) ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : null;
}

/**
 * Loads one model file into a recommender.
 * @param {ModelConfig} config
 * @param {string} file
 * @returns {Promise<Omit<ModelEntry, 'name'>>}
 */
async function loadModelFile(config, file) {
  const { bytes, modified } = await fetchModelFile(config, file);
  const rec = Recommender.fromBytes(bytes);
  const meta = safetensorsMetadata(bytes);
  let trainedAt = modified;
  try {
    const training = JSON.parse(meta['reco.training'] || '{}');
    if (typeof training.trained_at === 'string') trainedAt = training.trained_at;
  } catch {
    // A malformed training summary would have failed `fromBytes` already.
  }
  const formatVersion = Number.parseInt(meta['reco.format_version'] || '1', 10);
  return { file, rec, formatVersion, trainedAt };
}

/**
 * URL names, as `reco serve` assigns them: the kind, or the file stem for kinds held by more
 * than one file (then the whole file name if the stem is taken).
 * @param {{ kind: string, file: string }[]} loaded in file order
 * @returns {string[]}
 */
function assignNames(loaded) {
  const perKind = new Map();
  for (const { kind } of loaded) perKind.set(kind, (perKind.get(kind) || 0) + 1);
  const taken = new Set();
  return loaded.map(({ kind, file }) => {
    const stem = file.endsWith('.safetensors') ? file.slice(0, -'.safetensors'.length) : file;
    const preferred = perKind.get(kind) === 1 ? kind : stem;
    const name = [preferred, stem, file].find((n) => !taken.has(n)) ?? file;
    taken.add(name);
    return name;
  });
}

/**
 * The models of one isolate: loaded on the first request, kept for the isolate's life. A file
 * that fails to load is reported (503) and tried again by a request after {@link RETRY_AFTER_MS}.
 */
export class ModelStore {
  /** @param {() => ModelConfig} readConfig reads the configuration (may throw {@link ConfigError}). */
  constructor(readConfig) {
    this.readConfig = readConfig;
    /** @type {Map<string, Omit<ModelEntry, 'name'>>} loaded files by file name */
    this.loaded = new Map();
    /** @type {Map<string, { error: string, at: number }>} failed files by file name */
    this.failed = new Map();
    /** @type {Map<string, ModelEntry>} */
    this.byName = new Map();
    /** @type {Promise<void> | null} the load in progress */
    this.pending = null;
    /** @type {string | null} why the configuration is unusable */
    this.configError = null;
    /** @type {ModelConfig | undefined} read by the first load */
    this.config = undefined;
    /** @type {string[] | undefined} the configured files, once read */
    this.files = undefined;
  }

  /**
   * Loads what is not loaded yet (files that failed recently are skipped until their retry
   * time); concurrent callers share one load.
   * @returns {Promise<{ models: Map<string, ModelEntry>, failures: LoadFailure[] }>}
   */
  async get() {
    const now = Date.now();
    const due = () =>
      !this.configError &&
      (this.files === undefined ||
        this.files.some((f) => !this.loaded.has(f) && (!this.failed.has(f) || now - this.failed.get(f).at >= RETRY_AFTER_MS)));
    if (!this.pending && due()) {
      this.pending = this.loadDue(now).finally(() => {
        this.pending = null;
      });
    }
    if (this.pending) await this.pending;
    const failures = this.configError
      ? [{ file: '', error: this.configError }]
      : [...this.failed].map(([file, { error }]) => ({ file, error }));
    return { models: this.byName, failures };
  }

  /**
   * Reads the configuration (first call) and loads the files not loaded yet whose retry time
   * has come, in parallel; then renames the loaded set like `reco serve`.
   * @param {number} now
   */
  async loadDue(now) {
    if (this.files === undefined) {
      let config;
      try {
        initSync({ module: wasmModule });
        config = this.readConfig();
      } catch (e) {
        this.configError = e instanceof ConfigError ? e.message : `cannot start the recommender: ${e.message}`;
        return;
      }
      this.config = config;
      this.files = config.files;
    }
    const todo = this.files.filter(
      (f) => !this.loaded.has(f) && (!this.failed.has(f) || now - this.failed.get(f).at >= RETRY_AFTER_MS),
    );
    const results = await Promise.allSettled(todo.map((f) => loadModelFile(this.config, f)));
    results.forEach((r, i) => {
      const file = todo[i];
      if (r.status === 'fulfilled') {
        this.loaded.set(file, r.value);
        this.failed.delete(file);
      } else {
        const error = r.reason instanceof Error ? r.reason.message : String(r.reason);
        console.error(`cannot load model file ${file}: ${error}`);
        this.failed.set(file, { error, at: Date.now() });
      }
    });
    const entries = this.files.filter((f) => this.loaded.has(f)).map((f) => this.loaded.get(f));
    const names = assignNames(entries.map((e) => ({ kind: e.rec.kind, file: e.file })));
    this.byName = new Map(entries.map((e, i) => [names[i], { ...e, name: names[i] }]));
  }
}
