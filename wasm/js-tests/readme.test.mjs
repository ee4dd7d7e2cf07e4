// One source for each measured figure: the package README (copied into the npm package) points
// to the main README's benchmark section instead of repeating sizes and timings that go stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (p) => readFileSync(`${root}${p}`, 'utf8');

test('wasm/README.md states no measured size or time and links to the README section that does', () => {
  const pkg = read('wasm/README.md');
  const figures = pkg.match(/\d[\d.,–-]*\s*(ms|µs|KiB|MiB|KB|MB|%)(?![\w])/g) || [];
  assert.deepEqual(figures, [], 'figures belong in README.md, Benchmarks');
  assert.match(pkg, /\(\.\.\/README\.md#in-the-browser-and-at-the-edge\)/);
  assert.match(read('README.md'), /^### In the browser and at the edge$/m);
});
