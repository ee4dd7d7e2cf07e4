#!/usr/bin/env bash
# Sums the test counts in the output of every runner scripts/test.sh uses and prints
# `N passed, M failed`:
#   cargo test (incl. doctests) and wasm-bindgen-test-runner (Node and headless Chromium):
#     `test result: ok. X passed; Y failed; …` (or `test result: FAILED. …`), one per test binary;
#   node --test: the TAP summary `# pass N` / `# fail N` (`ℹ pass N` / `ℹ fail N` with the spec
#     reporter); indented subtest lines are not summaries and are not counted.
# Usage: scripts/count-tests.sh LOG...
set -euo pipefail
awk '
  /^test result: (ok|FAILED)\. / {
    for (i = 1; i < NF; i++) {
      if ($(i + 1) ~ /^passed;?$/) passed += $i
      if ($(i + 1) ~ /^failed;?$/) failed += $i
    }
  }
  /^(# |ℹ )pass [0-9]+$/ { passed += $NF }
  /^(# |ℹ )fail [0-9]+$/ { failed += $NF }
  END { printf "%d passed, %d failed\n", passed, failed }' "$@"
