// The reco shop demo: loads the reco-wasm package and a model file, and recommends for the
// basket in the browser (fold-in). Works from `reco serve --web web` (page under /web/, models
// at /models/, the server's answers at /recommend/…) and from any static server of this folder
// (models listed in models/index.json, written by `reco export`). `?model=NAME` picks a model.
import init, { Recommender } from './pkg/reco_wasm.js';

const started = performance.now();
const $ = (id) => document.getElementById(id);
const state = { models: {}, server: false, name: null, rec: null, cache: new Map(), basket: [], query: '' };
const N = 10;

/** Server mode when GET / answers reco serve's health JSON, else the static models/index.json. */
async function discover() {
  try {
    const r = await fetch('/', { headers: { accept: 'application/json' } });
    if ((r.headers.get('content-type') || '').includes('json')) {
      const health = await r.json();
      if (health.models && Object.keys(health.models).length) return { server: true, models: health.models };
    }
  } catch { /* not a reco server */ }
  const r = await fetch(new URL('models/index.json', location.href));
  if (!r.ok) throw new Error(`no models: models/index.json answered ${r.status} (run reco export)`);
  return { server: false, models: (await r.json()).models };
}

function modelUrl(info) {
  return state.server ? `/models/${encodeURIComponent(info.file)}` : new URL(`models/${info.file}`, location.href);
}

async function load(name) {
  if (!state.cache.has(name)) {
    const r = await fetch(modelUrl(state.models[name]));
    if (!r.ok) throw new Error(`model ${name}: HTTP ${r.status}`);
    state.cache.set(name, Recommender.fromBytes(new Uint8Array(await r.arrayBuffer())));
  }
  state.name = name;
  state.rec = state.cache.get(name);
  state.names = state.rec.itemNames();
  state.ids = state.rec.itemIds();
  state.pop = state.rec.popularity();
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
    <button class="add" data-testid="add" ${inBasket ? 'disabled' : ''}>${inBasket ? 'In basket' : 'Add to basket'}</button>`;
  el.querySelector('.name').textContent = titleCase(name);
  el.querySelector('.add').addEventListener('click', () => add(id));
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
  $('products').replaceChildren(...hits.map((i) => productCard(i, `<span class="pop">${state.pop[i]} buyers</span>`)));
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
  $('rec-hint').textContent = r.fallback === 'popularity'
    ? 'Your basket is empty, so here are our bestsellers. Add a product to get suggestions made for you.'
    : `Folded in on this device with the ${state.name} model — your basket never leaves this page.`;
  $('recs').replaceChildren(...r.items.map((it) => productCard(it.index, `<span class="score">${it.score.toFixed(3)}</span>`)));
  $('recs').dataset.items = r.items.map((it) => it.itemId).join(',');
}

function refresh() {
  renderBasket();
  renderProducts();
  renderRecs();
}
function add(id) {
  if (!state.basket.includes(id)) state.basket.push(id);
  refresh();
}
function remove(id) {
  state.basket = state.basket.filter((x) => x !== id);
  refresh();
}

function renderModels() {
  const box = document.querySelector('.models');
  box.replaceChildren(...Object.entries(state.models).map(([name, info]) => {
    const b = document.createElement('button');
    b.textContent = name;
    b.title = `${info.kind} · ${info.items} items · ${info.users} customers`;
    b.dataset.model = name;
    b.setAttribute('role', 'tab');
    b.setAttribute('aria-selected', String(name === state.name));
    b.addEventListener('click', async () => {
      await load(name);
      renderModels();
      refresh();
      compare();
    });
    return b;
  }));
}

function list(items) {
  const ol = document.createElement('ol');
  for (const it of items) {
    const li = document.createElement('li');
    li.textContent = titleCase(it.product || it.item_id || it.itemId);
    li.title = `#${it.itemId ?? it.item_id} · ${Number(it.score).toFixed(4)}`;
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
  left.append(state.rec.hasUser(id) ? list(mine.items) : Object.assign(document.createElement('p'), { textContent: 'Unknown customer: bestsellers.' }));
  const right = document.createElement('div');
  right.innerHTML = '<h3>Server</h3>';
  if (state.server) {
    try {
      const t1 = performance.now();
      const r = await fetch(`/recommend/${encodeURIComponent(state.name)}/${encodeURIComponent(id)}?n=5`);
      const body = await r.json();
      right.querySelector('h3').innerHTML += ` <small>${(performance.now() - t1).toFixed(1)} ms</small>`;
      right.append(list(Array.isArray(body) ? body : body.items || []));
    } catch (e) {
      right.append(Object.assign(document.createElement('p'), { textContent: `unavailable: ${e.message}` }));
    }
  } else {
    right.append(Object.assign(document.createElement('p'), { className: 'muted', textContent: 'Static hosting: start `reco serve --web web` to compare.' }));
  }
  box.replaceChildren(left, right);
}

async function main() {
  const [, found] = await Promise.all([init(), discover()]);
  Object.assign(state, found);
  const wanted = new URLSearchParams(location.search).get('model');
  const names = Object.keys(state.models);
  await load(state.models[wanted] ? wanted : names.includes('als') ? 'als' : names[0]);
  renderModels();
  refresh();
  const ready = performance.now() - started;
  const info = state.models[state.name];
  $('status').textContent = `ready in ${Math.round(ready)} ms`;
  $('footer').textContent = `${state.ids.length} products · ${state.rec.userCount} customers · model ${state.name} (${info.kind}${info.precision ? `, ${info.precision}` : ''}) · computed with WebAssembly in this tab · page ready in ${ready.toFixed(0)} ms`;
  const search = $('search');
  search.disabled = false;
  search.addEventListener('input', () => { state.query = search.value; renderProducts(); });
  $('clear').addEventListener('click', () => { state.basket = []; refresh(); });
  $('customer-form').addEventListener('submit', (e) => { e.preventDefault(); compare(); });
  window.__recoReady = { ms: ready, rec: state.rec };
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  $('status').textContent = `error: ${e.message}`;
  console.error(e);
});
