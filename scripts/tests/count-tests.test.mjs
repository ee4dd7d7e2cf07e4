// scripts/count-tests.sh: the total line scripts/test.sh ends with (CI reads it), summed over
// the summaries every runner prints, in the exact formats they print them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../count-tests.sh', import.meta.url));

function count(...logs) {
  const dir = mkdtempSync(join(tmpdir(), 'count-tests-'));
  try {
    const files = logs.map((text, k) => {
      const f = join(dir, `${k}.log`);
      writeFileSync(f, text);
      return f;
    });
    return execFileSync(script, files, { encoding: 'utf8' }).trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cargo = `
running 12 tests
test a ... ok
test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

   Doc-tests reco_core
test result: FAILED. 3 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.20s
`;
// wasm-bindgen-test-runner, Node and headless Chromium (no "measured" field).
const wasm = `running 7 tests
test result: ok. 7 passed; 0 failed; 0 ignored; 0 filtered out; finished in 0.46s
`;
const tap = `TAP version 13
# Subtest: outer
    # Subtest: inner
    ok 1 - inner
    # pass 99
ok 1 - outer
1..1
# tests 9
# suites 0
# pass 8
# fail 1
# cancelled 0
`;
const spec = `✔ something (1.2ms)
ℹ tests 4
ℹ pass 4
ℹ fail 0
`;

test('sums cargo, wasm-bindgen-test, TAP and spec summaries', () => {
  assert.equal(count(cargo, wasm, tap, spec), '34 passed, 3 failed');
});

test('counts nothing twice and nothing from test names or subtests', () => {
  assert.equal(count('test test result: ok. 5 passed; 0 failed ... ok\n    # pass 3\n# passed 4\n'), '0 passed, 0 failed');
});

test('an empty log is 0 passed, 0 failed', () => {
  assert.equal(count(''), '0 passed, 0 failed');
});
