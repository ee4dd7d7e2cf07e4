// The HTTP API of `reco serve`'s public endpoints, answered from the worker's models: same
// paths, JSON shapes, fallback headers and error statuses (see server/src/serve/routes.rs).
import { VERSION } from './build-info.js';

/** Default list length. */
export const DEFAULT_N = 10;
/** The largest `n` a caller may ask for (reco-core's `MAX_N`). */
export const MAX_N = 10_000;
/** Largest basket body in bytes (`reco serve --max-body` default). */
export const MAX_BODY = 64 * 1024;

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

const EXPOSED_HEADERS = 'etag,x-reco-fallback,x-reco-model,x-reco-variant,x-reco-unknown-items,x-request-id';

/** An error answer: status, message and extra fields merged into the JSON body. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {Record<string, unknown>} [extra]
   * @param {Record<string, string>} [headers]
   */
  constructor(status, message, extra = {}, headers = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
    this.headers = headers;
  }

  /** @returns {Response} `{"error": ..., "status": ..., ...extra}` with this status. */
  toResponse() {
    const body = { error: this.message, status: this.status, ...this.extra };
    return jsonResponse(JSON.stringify(sortKeys(body)), this.status, this.headers);
  }
}

/** Objects with their keys sorted (serde_json's map order), for byte-identical answers. */
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
}

function jsonResponse(body, status = 200, headers = {}) {
  return new Response(body, { status, headers: { 'content-type': 'application/json', ...headers } });
}

/**
 * Parses `n` from a raw query string like `reco serve`: form-decoded (`%35` is 5, `+` a space);
 * default 10; a repeated `n` is an error; an integer in 1..=10000, else 400.
 * @param {string | null} query the raw query (without `?`), null when the URL has none
 * @returns {number}
 */
export function parseN(query) {
  const values = [];
  for (const [key, value] of new URLSearchParams(query ?? '')) if (key === 'n') values.push(value);
  if (values.length > 1) {
    throw new ApiError(400, 'invalid query string: Failed to deserialize query string: duplicate field `n`');
  }
  if (values.length === 0) return DEFAULT_N;
  const raw = values[0];
  const n = /^[+-]?\d+$/.test(raw) ? BigInt(raw) : null;
  if (n === null || n < I64_MIN || n > I64_MAX) {
    throw new ApiError(400, `n must be an integer between 1 and ${MAX_N}, got \`${shorten(raw)}\``);
  }
  return checkN(n);
}

/** Input echoed in a message like `reco serve`: 64 characters at most, escaped like Rust's
 * `char::escape_debug`. @param {string} s */
function shorten(s) {
  const chars = Array.from(s);
  const esc = (c) => {
    const special = { '\\': '\\\\', "'": "\\'", '"': '\\"', '\t': '\\t', '\r': '\\r', '\n': '\\n', '\0': '\\0' };
    if (c in special) return special[c];
    return CONTROL.test(c) ? `\\u{${c.codePointAt(0).toString(16)}}` : c;
  };
  return chars.slice(0, 64).map(esc).join('') + (chars.length > 64 ? '…' : '');
}

const UTF8 = new TextEncoder();
/** Rust's `char::is_control`: C0 and C1 control characters. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Longest id in bytes (UTF-8), as `reco serve` (`reco_server::limits::MAX_ID_BYTES`). */
export const MAX_ID_BYTES = 256;

/**
 * Checks an id or a model name like `reco serve`: 1..=256 bytes, no control character.
 * @param {string} what e.g. `user id`, `items[2]`
 * @param {string} id
 */
function checkId(what, id) {
  const bytes = UTF8.encode(id).length;
  const control = CONTROL.exec(id);
  let problem = null;
  if (id.length === 0) problem = 'is empty';
  else if (bytes > MAX_ID_BYTES) problem = `is ${bytes} bytes long, more than the ${MAX_ID_BYTES} allowed`;
  else if (control) problem = `contains a control character at byte ${UTF8.encode(id.slice(0, control.index)).length}`;
  if (problem) {
    throw new ApiError(400, `${what} ${problem} (ids are 1 to ${MAX_ID_BYTES} bytes without control characters)`);
  }
}

/** @param {bigint} n @returns {number} */
function checkN(n) {
  if (n < 1n || n > BigInt(MAX_N)) throw new ApiError(400, `n must be between 1 and ${MAX_N}, got ${n}`);
  return Number(n);
}

/**
 * Shortest decimal that reads back as the same f32 (what serde_json writes for an f32).
 * @param {number} x an f32 value
 * @returns {string}
 */
export function formatF32(x) {
  if (!Number.isFinite(x)) return 'null';
  let digits = String(x);
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) {
      digits = String(Number(s));
      break;
    }
  }
  return /^-?\d+$/.test(digits) ? `${digits}.0` : digits;
}

/**
 * The JSON list of recommended or similar items, with the model and fallback headers.
 * @param {import('./models.js').ModelEntry} entry
 * @param {{ items: { product: string, itemId: string, score: number, fallback: boolean }[],
 *           fallback: string, unknownItems: string[] }} recs
 * @returns {Response}
 */
function listResponse(entry, recs) {
  const parts = recs.items.map(
    (it) =>
      `{"product":${JSON.stringify(it.product)},"item_id":${JSON.stringify(it.itemId)},"score":${formatF32(it.score)}` +
      `${it.fallback ? ',"fallback":true' : ''}}`,
  );
  const headers = { 'x-reco-model': entry.name };
  if (recs.fallback !== 'none') headers['x-reco-fallback'] = recs.fallback;
  if (recs.unknownItems.length > 0) headers['x-reco-unknown-items'] = String(recs.unknownItems.length);
  return jsonResponse(`[${parts.join(',')}]`, 200, headers);
}

/** The HTTP status `reco serve` gives a reco-core error (by its message). */
function coreErrorStatus(message) {
  if (/^unknown (item|user) /.test(message)) return 404;
  if (/^(invalid n |invalid data: |invalid hyperparameter )/.test(message)) return 400;
  if (message.startsWith('unsupported: ')) return 422;
  return 500;
}

/**
 * Runs `f` on the model named `name`; a name the worker does not serve is 404 (or 503 when
 * some model file failed to load, since the name may be that file's).
 * @param {import('./models.js').ModelStore} store
 * @param {string} name
 * @param {(entry: import('./models.js').ModelEntry) => any} f returns the wasm answer
 * @returns {Promise<Response>}
 */
async function answer(store, name, f) {
  const { models, failures } = await store.get();
  const entry = models.get(name);
  if (!entry) {
    const names = [...models.keys()].sort();
    if (failures.length > 0) throw unavailable(failures, { models: names }, `model \`${name}\` is not available`);
    throw new ApiError(404, `unknown model \`${name}\``, { models: names });
  }
  let recs;
  try {
    recs = f(entry);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new ApiError(coreErrorStatus(message), message);
  }
  return listResponse(entry, recs);
}

/** 503: model files that failed to load. */
function unavailable(failures, extra, what) {
  const detail = failures.map((f) => (f.file ? `${f.file}: ${f.error}` : f.error)).join('; ');
  return new ApiError(503, `${what}: ${failures.length} model file(s) failed to load (${detail})`, {
    ...extra,
    failed: failures,
  });
}

/**
 * `GET /`: status and the loaded models (503 when a model file failed to load).
 * @param {import('./models.js').ModelStore} store
 */
async function health(store) {
  const { models, failures } = await store.get();
  const list = {};
  for (const e of models.values()) {
    list[e.name] = {
      kind: e.rec.kind,
      file: e.file,
      format_version: e.formatVersion,
      users: e.rec.userCount,
      items: e.rec.itemCount,
      trained_at: e.trainedAt,
    };
  }
  if (failures.length > 0) throw unavailable(failures, { models: list }, 'not ready');
  const body = { status: 'online', version: VERSION, models: list, ab: null, admin: false };
  return jsonResponse(JSON.stringify(sortKeys(body)));
}

/**
 * Validates a basket request body like serde does for `reco serve`'s `BasketRequest`.
 * @param {unknown} req
 * @returns {{ items: string[], n: number, exclude: string[] }}
 */
function basketRequest(req) {
  const bad = (m) => new ApiError(400, `invalid JSON body: ${m}`);
  if (req === null || typeof req !== 'object' || Array.isArray(req)) {
    throw bad(`invalid type: ${describe(req)}, expected struct BasketRequest`);
  }
  const strings = (field, value) => {
    if (!Array.isArray(value)) throw bad(`invalid type: ${describe(value)}, expected a sequence (field \`${field}\`)`);
    const wrong = value.find((v) => typeof v !== 'string');
    if (wrong !== undefined) throw bad(`invalid type: ${describe(wrong)}, expected a string (field \`${field}\`)`);
    return value;
  };
  if (!('items' in req)) throw bad('missing field `items`');
  const items = strings('items', req.items);
  const exclude = 'exclude' in req ? strings('exclude', req.exclude) : [];
  let n = BigInt(DEFAULT_N);
  if (req.n !== undefined && req.n !== null) {
    if (typeof req.n !== 'number' || !Number.isInteger(req.n)) {
      throw bad(`invalid type: ${describe(req.n)}, expected i64 (field \`n\`)`);
    }
    n = BigInt(req.n);
  }
  return { items, n, exclude };
}

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'sequence';
  if (typeof v === 'object') return 'map';
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  return `${typeof v} \`${v}\``;
}

/**
 * `POST /recommend/{model}`: the body (64 KiB at most) parsed as a basket.
 * @param {Request} request
 */
async function readBasket(request) {
  const declared = Number(request.headers.get('content-length') || 0);
  const tooLarge = () => new ApiError(413, 'Failed to buffer the request body: length limit exceeded');
  if (declared > MAX_BODY) {
    throw new ApiError(413, `request body of ${declared} bytes is larger than the ${MAX_BODY} allowed (--max-body)`);
  }
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.length > MAX_BODY) throw tooLarge();
  let req;
  try {
    req = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new ApiError(400, `invalid JSON body: ${e.message}`);
  }
  return basketRequest(req);
}

/** Decodes a path segment like axum's `Path` (percent-decoding, UTF-8). */
function segment(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ApiError(400, `Invalid URL: cannot percent-decode \`${s}\``);
  }
}

function methodNotAllowed(method, path, allow) {
  return new ApiError(405, `${method} is not allowed on ${path}`, {}, { allow });
}

/**
 * Routes one request to its handler.
 * @param {Request} request
 * @param {import('./models.js').ModelStore} store
 * @returns {Promise<Response>}
 */
async function route(request, store) {
  const raw = request.url;
  const q = raw.indexOf('?');
  const query = q < 0 ? null : raw.slice(q + 1);
  const path = new URL(raw).pathname;
  const method = request.method;
  const isGet = method === 'GET' || method === 'HEAD';
  const parts = path.split('/').slice(1);
  if (path === '/') {
    if (!isGet) throw methodNotAllowed(method, path, 'GET,HEAD');
    return health(store);
  }
  if (parts.some((p) => p === '')) throw new ApiError(404, `no route for ${method} ${path}`);
  const [head, model, id] = parts;
  if (head === 'recommend' && parts.length === 3) {
    if (!isGet) throw methodNotAllowed(method, path, 'GET,HEAD');
    const [name, userId] = [segment(model), segment(id)];
    checkId('model name', name);
    checkId('user id', userId);
    const n = parseN(query);
    return answer(store, name, (e) => e.rec.recommend(userId, n));
  }
  if (head === 'recommend' && parts.length === 2) {
    if (method === 'POST') {
      const name = segment(model);
      const basket = await readBasket(request);
      checkId('model name', name);
      basket.items.forEach((id, i) => checkId(`items[${i}]`, id));
      basket.exclude.forEach((id, i) => checkId(`exclude[${i}]`, id));
      basket.n = checkN(basket.n);
      return answer(store, name, (e) => e.rec.recommendForItems(basket.items, basket.n, { exclude: basket.exclude }));
    }
    if (!isGet) throw methodNotAllowed(method, path, 'GET,HEAD,POST');
    throw new ApiError(404, 'no A/B split configured: the edge worker serves /recommend/{model}/{user_id}');
  }
  if (head === 'similar' && parts.length === 3) {
    if (!isGet) throw methodNotAllowed(method, path, 'GET,HEAD');
    const [name, itemId] = [segment(model), segment(id)];
    checkId('model name', name);
    checkId('item id', itemId);
    const n = parseN(query);
    return answer(store, name, (e) => e.rec.similarItems(itemId, n));
  }
  throw new ApiError(404, `no route for ${method} ${path}`);
}

/** Request ids like `reco serve`'s: `<isolate start time in hex>-<counter>`. */
const requestIds = { prefix: Date.now().toString(16), next: 1 };

/**
 * Answers one request: CORS preflight, routing, JSON errors, and the headers every answer of
 * `reco serve` carries (CORS, `x-request-id`). Never throws.
 * @param {Request} request
 * @param {import('./models.js').ModelStore} store
 * @returns {Promise<Response>}
 */
export async function handle(request, store) {
  const requestId = request.headers.get('x-request-id') || `${requestIds.prefix}-${requestIds.next++}`;
  let resp;
  if (request.method === 'OPTIONS' && request.headers.has('origin') && request.headers.has('access-control-request-method')) {
    resp = new Response(null, {
      status: 200,
      headers: {
        'access-control-allow-methods': 'GET,HEAD,POST,OPTIONS',
        'access-control-allow-headers': 'content-type,if-none-match',
        'access-control-max-age': '3600',
      },
    });
  } else {
    try {
      resp = await route(request, store);
    } catch (e) {
      if (!(e instanceof ApiError)) console.error(`internal error on ${request.method} ${request.url}: ${e?.stack || e}`);
      resp = (e instanceof ApiError ? e : new ApiError(500, 'internal error')).toResponse();
    }
  }
  resp.headers.set('access-control-allow-origin', '*');
  if (request.method !== 'OPTIONS') resp.headers.set('access-control-expose-headers', EXPOSED_HEADERS);
  resp.headers.set('x-request-id', requestId);
  return resp;
}
