// The reco shop demo: loads the reco-wasm package and a model file, and recommends for the
// basket in the browser (fold-in). Works from `reco serve --web web` (page under /web/, models
// at /models/, the server's answers at /recommend/…) and from any static server of this folder
// (models listed in models/index.json, written by `reco export`). `?model=NAME` picks a model.
// Every model kind the package answers is offered: ALS, LightFM, user-KNN, item-KNN and
// popularity; products get "similar products" from every kind but popularity.
// Whatever cannot load (the package in pkg/, a model file) is shown on the page with the command
// that fixes it, never left on "Loading…".

const PKG = './pkg/reco_wasm.js';
const started = performance.now();
const $ = (id) => document.getElementById(id);
const state = { models: {}, server: false, name: null, rec: null, cache: new Map(), basket: [], query: '', similarTo: null };
const N = 10;
const LABELS = { als: 'ALS', lightfm: 'LightFM', knn: 'KNN', 'item-knn': 'item-KNN', ease: 'EASE', rp3beta: 'RP3beta', popularity: 'popularity' };
const KIND_TITLES = { als: 'implicit ALS', lightfm: 'LightFM-style WARP', knn: 'user-based KNN', 'item-knn': 'item-based KNN', ease: 'EASE (item-item regression)', rp3beta: 'RP3beta (random walk)', popularity: 'popularity' };
const ORDER = ['als', 'lightfm', 'knn', 'item-knn', 'ease', 'rp3beta', 'popularity'];
let Recommender;

/** An error the page shows: what failed and the command that fixes it. */
class PageError extends Error {
  constructor(message, fix) {
    super(message);
    this.fix = fix;
  }
}

/** Shows `e` in the error banner (`fatal`: the page cannot work at all). */
function showError(e, fatal) {
  const box = $('error');
  box.replaceChildren();
  const close = Object.assign(document.createElement('button'), { className: 'close', textContent: '×', title: 'Dismiss' });
  close.setAttribute('aria-label', 'Dismiss');
  close.addEventListener('click', () => { box.hidden = true; });
  if (!fatal) box.append(close);
  box.append(Object.assign(document.createElement('strong'), { textContent: e.message }));
  if (e.fix) {
    const p = document.createElement('div');
    // `fix` is our own text; commands are marked with backticks.
    for (const [k, part] of e.fix.split('`').entries()) {
      p.append(k % 2 ? Object.assign(document.createElement('code'), { textContent: part }) : part);
    }
    box.append(p);
  }
  box.hidden = false;
  box.dataset.fatal = String(Boolean(fatal));
  if (fatal) $('status').textContent = 'not available';
}

function clearError() {
  $('error').hidden = true;
}

const BUILD_HINT = 'Build it with `scripts/build-wasm.sh` (or run `scripts/run.sh`, which installs wasm-bindgen-cli when missing, builds the package and serves the demo), then reload this page.';

/** The wasm package from pkg/ (git-ignored, written by scripts/build-wasm.sh). */
async function loadPackage() {
  const url = new URL(PKG, import.meta.url);
  let wasm;
  try {
    wasm = await import(url.href);
  } catch (e) {
    let why = e.message;
    try {
      const r = await fetch(url, { method: 'HEAD' });
      if (!r.ok) why = `HTTP ${r.status}`;
    } catch { /* keep the import's message */ }
    throw new PageError(`The recommender package is not there: ${url.pathname} could not be loaded (${why}).`, BUILD_HINT);
  }
  try {
    await wasm.default();
  } catch (e) {
    throw new PageError(`The recommender package's WebAssembly could not be loaded (${e.message}).`, BUILD_HINT);
  }
  Recommender = wasm.Recommender;
}

/** Server mode when GET / answers reco serve's health JSON, else the static models/index.json. */
async function discover() {
  try {
    const r = await fetch('/', { headers: { accept: 'application/json' } });
    if ((r.headers.get('content-type') || '').includes('json')) {
      const health = await r.json();
      if (health.models && Object.keys(health.models).length) return { server: true, models: health.models };
    }
  } catch { /* not a reco server */ }
  const url = new URL('models/index.json', location.href);
  const fix = 'Train and export the models: `scripts/run.sh` does both (or `reco train --model als` then `reco export --model models/als.safetensors`).';
  let r;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new PageError(`No model list: ${url.pathname} could not be fetched (${e.message}).`, fix);
  }
  if (!r.ok) throw new PageError(`No model list: ${url.pathname} answered HTTP ${r.status}.`, fix);
  let models;
  try {
    models = (await r.json()).models;
  } catch (e) {
    throw new PageError(`The model list ${url.pathname} is not valid JSON (${e.message}).`, fix);
  }
  if (!models || !Object.keys(models).length) throw new PageError(`The model list ${url.pathname} names no model.`, fix);
  return { server: false, models };
}

function modelUrl(info) {
  return state.server ? new URL(`/models/${encodeURIComponent(info.file)}`, location.href) : new URL(`models/${info.file}`, location.href);
}

function modelFix(name) {
  const kind = state.models[name]?.kind || name;
  return state.server
    ? `Train it with \`reco train --model ${kind}\` into the folder \`reco serve --models\` reads (\`scripts/run.sh\` trains every model), then restart the server or reload it.`
    : `Train and export it: \`reco train --model ${kind}\` then \`reco export --model models/${kind}.safetensors\` (\`scripts/run.sh\` does both for every model).`;
}

/** Downloads and loads model `name` (cached); throws a PageError on 404 or a corrupt file. */
async function fetchModel(name) {
  if (state.cache.has(name)) return state.cache.get(name);
  const url = modelUrl(state.models[name]);
  let r;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new PageError(`Model “${name}”: ${url.pathname} could not be fetched (${e.message}).`, modelFix(name));
  }
  if (!r.ok) throw new PageError(`Model “${name}”: ${url.pathname} answered HTTP ${r.status}${r.status === 404 ? ' (no such file)' : ''}.`, modelFix(name));
  let rec;
  try {
    rec = Recommender.fromBytes(new Uint8Array(await r.arrayBuffer()));
  } catch (e) {
    throw new PageError(`Model “${name}”: ${url.pathname} is not a usable model file: ${e.message}.`, modelFix(name));
  }
  state.cache.set(name, rec);
  return rec;
}

async function load(name) {
  const rec = await fetchModel(name);
  state.name = name;
  state.rec = rec;
  state.kind = rec.kind;
  state.names = rec.itemNames();
  state.ids = rec.itemIds();
  state.pop = rec.popularity();
  state.byPopularity = [...state.ids.keys()].sort((a, b) => state.pop[b] - state.pop[a] || a - b);
}

const PALETTE = ['#f6d5c3', '#d6e9d5', '#d3e0f3', '#f3e3b5', '#e8d4ef', '#f5cfd8', '#cdebe7', '#e9e2d0'];
/** A colored monogram tile for a product (no product photos in the data set). */
function tile(name) {
  const words = name.replace(/[^A-Za-z ]/g, ' ').split(/\s+/).filter((w) => w.length > 2);
  const emoji = (words.slice(0, 2).map((w) => w[0]).join('') || '?').toUpperCase();
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return { emoji, color: PALETTE[h % PALETTE.length] };
}

function titleCase(s) {
  return s.toLowerCase().replace(/\b\w/g, (c) => c.toUpperCase());
}

function buyers(index) {
  const n = Math.round(state.pop[index]);
  return `${n} buyer${n === 1 ? '' : 's'}`;
}

/** What a recommended item shows beside its id: the score, or "bestseller" for a popularity
 *  pick (the fallback, or the popularity model), whose score means nothing to a shopper. */
function badge(it, wholeListFallback) {
  if (it.fallback || wholeListFallback || state.kind === 'popularity') {
    return `<span class="tag" data-testid="bestseller" title="${buyers(it.index)}: popular, not personalised">bestseller</span>`;
  }
  return `<span class="score" title="model score">${it.score.toFixed(3)}</span>`;
}

function productCard(index, extra) {
  const name = state.names[index] || state.ids[index];
  const id = state.ids[index];
  const { emoji, color } = tile(name);
  const el = document.createElement('article');
  el.className = 'product';
  el.dataset.itemId = id;
  const inBasket = state.basket.includes(id);
  el.innerHTML = `<div class="pic" style="background:${color}">${emoji}</div>
    <div class="name"></div><div class="meta"><span class="sku">#${id}</span>${extra || ''}</div>
    ${state.kind === 'popularity' ? '' : '<button class="similar-btn" data-testid="show-similar">Similar products</button>'}
    <button class="add" data-testid="add" ${inBasket ? 'disabled' : ''}>${inBasket ? 'In basket' : 'Add to basket'}</button>`;
  el.querySelector('.name').textContent = titleCase(name);
  el.querySelector('.add').addEventListener('click', () => add(id));
  el.querySelector('.similar-btn')?.addEventListener('click', () => { state.similarTo = id; renderSimilar(true); });
  return el;
}

function renderProducts() {
  const q = state.query.trim().toLowerCase();
  const hits = [];
  for (const i of state.byPopularity) {
    if (!q || state.names[i].toLowerCase().includes(q) || state.ids[i].toLowerCase() === q) hits.push(i);
    if (hits.length >= 8) break;
  }
  const total = q ? state.names.filter((n) => n.toLowerCase().includes(q)).length : state.ids.length;
  $('count').textContent = q ? `${total} match${total === 1 ? '' : 'es'}` : `${total} products · most popular first`;
  $('products').replaceChildren(...hits.map((i) => productCard(i, `<span class="pop">${buyers(i)}</span>`)));
}

function renderBasket() {
  $('basket-count').textContent = state.basket.length;
  $('clear').hidden = state.basket.length === 0;
  $('basket').replaceChildren(...state.basket.map((id) => {
    const li = document.createElement('li');
    const i = state.rec.itemIndex(id);
    const name = i === undefined ? id : state.names[i] || id;
    li.innerHTML = `<span class="dot" style="background:${tile(name).color}">${tile(name).emoji}</span><span class="bn"></span><button class="x" aria-label="Remove">×</button>`;
    li.querySelector('.bn').textContent = titleCase(name);
    li.dataset.itemId = id;
    li.querySelector('.x').addEventListener('click', () => remove(id));
    return li;
  }));
  if (!state.basket.length) $('basket').innerHTML = '<li class="empty">Nothing yet — pick something you like.</li>';
}

function renderRecs() {
  const t0 = performance.now();
  const r = state.rec.recommendForItems(state.basket, N);
  const ms = performance.now() - t0;
  window.__recoLast = { basket: [...state.basket], model: state.name, ms, result: r };
  $('timing').textContent = `computed in ${ms.toFixed(2)} ms in your browser · ${state.name}`;
  const fallback = r.fallback === 'popularity';
  $('rec-hint').textContent = fallback && state.basket.length === 0
    ? 'Your basket is empty, so here are our bestsellers. Add a product to get suggestions made for you.'
    : fallback || state.kind === 'popularity'
      ? `The ${LABELS[state.kind] || state.name} model has nothing personal for this basket: these are our bestsellers.`
      : `Folded in on this device with the ${LABELS[state.kind] || state.name} model — your basket never leaves this page.${r.fallback === 'partial' ? ' Items marked “bestseller” fill the list where the model ran out of evidence.' : ''}`;
  $('recs').replaceChildren(...r.items.map((it) => productCard(it.index, badge(it, fallback))));
  $('recs').dataset.items = r.items.map((it) => it.itemId).join(',');
  $('recs').dataset.fallback = r.fallback;
}

/** "Similar products" for the product last asked about, with the current model. */
function renderSimilar(scroll) {
  const box = $('similar');
  if (!state.similarTo || state.kind === 'popularity') {
    box.hidden = true;
    return;
  }
  const i = state.rec.itemIndex(state.similarTo);
  const name = i === undefined ? state.similarTo : state.names[i] || state.similarTo;
  let r;
  const t0 = performance.now();
  try {
    r = state.rec.similarItems(state.similarTo, 8);
  } catch (e) {
    showError(new PageError(`Similar products for #${state.similarTo}: ${e.message}.`));
    box.hidden = true;
    return;
  }
  const ms = performance.now() - t0;
  $('similar-title').textContent = `Similar to ${titleCase(name)}`;
  $('similar-timing').textContent = `${LABELS[state.kind] || state.name} · ${ms.toFixed(2)} ms`;
  $('similar-items').replaceChildren(...r.items.map((it) => productCard(it.index, `<span class="score" title="similarity">${it.score.toFixed(3)}</span>`)));
  $('similar-items').dataset.items = r.items.map((it) => it.itemId).join(',');
  $('similar-items').dataset.of = state.similarTo;
  box.hidden = false;
  if (scroll) box.scrollIntoView({ block: 'nearest' });
}

function refresh() {
  renderBasket();
  renderProducts();
  renderRecs();
  renderSimilar(false);
}
function add(id) {
  if (!state.basket.includes(id)) state.basket.push(id);
  refresh();
}
function remove(id) {
  state.basket = state.basket.filter((x) => x !== id);
  refresh();
}

function modelNames() {
  const rank = (name) => {
    const k = ORDER.indexOf(state.models[name].kind);
    return k < 0 ? ORDER.length : k;
  };
  return Object.keys(state.models).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function renderModels() {
  const box = document.querySelector('.models');
  box.replaceChildren(...modelNames().map((name) => {
    const info = state.models[name];
    const b = document.createElement('button');
    b.textContent = name === info.kind ? LABELS[info.kind] || name : name;
    b.title = `${KIND_TITLES[info.kind] || info.kind} · ${info.items} items · ${info.users} customers`;
    b.dataset.model = name;
    b.dataset.kind = info.kind;
    b.setAttribute('role', 'tab');
    b.setAttribute('aria-selected', String(name === state.name));
    b.addEventListener('click', () => switchModel(name));
    return b;
  }));
}

async function switchModel(name) {
  const status = $('status');
  status.textContent = `loading ${name}…`;
  document.body.dataset.model = '';
  try {
    await load(name);
    clearError();
  } catch (e) {
    // The previous model keeps answering.
    showError(e, false);
    console.warn(e);
  }
  renderModels();
  refresh();
  compare();
  status.textContent = `model ${state.name}`;
  document.body.dataset.model = state.name;
  renderFooter();
}

function isBestseller(it, listFallback) {
  return it.fallback === true || listFallback || state.kind === 'popularity';
}

function list(items, listFallback) {
  const ol = document.createElement('ol');
  for (const it of items) {
    const li = document.createElement('li');
    li.textContent = titleCase(it.product || it.item_id || it.itemId);
    const id = it.itemId ?? it.item_id;
    if (isBestseller(it, listFallback)) {
      li.append(' ', Object.assign(document.createElement('span'), { className: 'tag', textContent: 'bestseller' }));
      li.title = `#${id} · popular, not personalised`;
    } else {
      li.title = `#${id} · score ${Number(it.score).toFixed(4)}`;
    }
    ol.append(li);
  }
  return ol;
}

async function compare() {
  const id = $('customer').value.trim();
  const box = $('compare');
  if (!id) return box.replaceChildren();
  const t0 = performance.now();
  const mine = state.rec.recommend(id, 5);
  const ms = performance.now() - t0;
  const left = document.createElement('div');
  left.innerHTML = `<h3>Browser <small>${ms.toFixed(2)} ms</small></h3>`;
  if (!state.rec.hasUser(id)) left.append(Object.assign(document.createElement('p'), { className: 'muted', textContent: 'Unknown customer: our bestsellers.' }));
  left.append(list(mine.items, mine.fallback === 'popularity'));
  const right = document.createElement('div');
  right.innerHTML = '<h3>Server</h3>';
  if (state.server) {
    try {
      const t1 = performance.now();
      const r = await fetch(`/recommend/${encodeURIComponent(state.name)}/${encodeURIComponent(id)}?n=5`);
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
      right.querySelector('h3').innerHTML += ` <small>${(performance.now() - t1).toFixed(1)} ms</small>`;
      right.append(list(Array.isArray(body) ? body : body.items || [], r.headers.get('x-reco-fallback') === 'popularity'));
    } catch (e) {
      right.append(Object.assign(document.createElement('p'), { textContent: `unavailable: ${e.message}` }));
    }
  } else {
    right.append(Object.assign(document.createElement('p'), { className: 'muted', textContent: 'Static hosting: start `reco serve --web web` to compare.' }));
  }
  box.replaceChildren(left, right);
}

function renderFooter() {
  const info = state.models[state.name];
  $('footer').textContent = `${state.ids.length} products · ${state.rec.userCount} customers · model ${state.name} (${KIND_TITLES[info.kind] || info.kind}${info.precision ? `, ${info.precision}` : ''}) · computed with WebAssembly in this tab · page ready in ${state.readyMs.toFixed(0)} ms`;
}

async function main() {
  const [, found] = await Promise.all([loadPackage(), discover()]);
  Object.assign(state, found);
  const wanted = new URLSearchParams(location.search).get('model');
  const names = modelNames();
  const first = wanted && state.models[wanted] ? wanted : names.includes('als') ? 'als' : names[0];
  await load(first);
  renderModels();
  refresh();
  state.readyMs = performance.now() - started;
  $('status').textContent = `ready in ${Math.round(state.readyMs)} ms`;
  renderFooter();
  if (wanted && !state.models[wanted]) {
    showError(new PageError(`There is no model “${wanted}” here (available: ${names.join(', ')}); showing ${first}.`,
      `Train it with \`reco train --model ${wanted}\`${state.server ? '' : ` and export it with \`reco export --model models/${wanted}.safetensors\``}, or pick one above.`), false);
  }
  const search = $('search');
  search.disabled = false;
  search.addEventListener('input', () => { state.query = search.value; renderProducts(); });
  $('clear').addEventListener('click', () => { state.basket = []; refresh(); });
  $('customer-form').addEventListener('submit', (e) => { e.preventDefault(); compare(); });
  window.__recoReady = { ms: state.readyMs, rec: state.rec };
  document.body.dataset.ready = 'true';
  document.body.dataset.model = state.name;
}

main().catch((e) => {
  showError(e instanceof PageError ? e : new PageError(`The demo could not start: ${e.message}`, BUILD_HINT), true);
  document.body.dataset.ready = 'error';
  // Expected failures are shown on the page; a console warning keeps them visible to developers.
  console.warn(e);
});
