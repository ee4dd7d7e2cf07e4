#!/usr/bin/env python3
"""Side-by-side table: reco vs the reference systems (implicit, LightFM, scikit-learn) on the
exact split that bench/anchors/bench_anchors.py writes, measured in one sitting.

    python3 scripts/compare_anchors.py [--skip-anchors] [--out bench/anchors-online-retail.md]

Steps: (1) builds the reference systems' venv in /tmp/anchor-venv ($ANCHOR_VENV) if missing
(bench/anchors/setup.sh: pip downloads from PyPI and compiles LightFM, about a minute),
(2) runs bench_anchors.py on the bundled Online Retail data (writes the split to
/tmp/anchor-splits and its table to /tmp/anchor-results.md), (3) builds reco (release) and runs
`reco evaluate --train … --test … --json` for every reco model with the anchors' settings and
2 threads, (4) writes one markdown table with both, and the speed ratios. It checks what it
needs first (python3 venv + pip, a C compiler, cargo) and says how to get what is missing.
About 3 minutes once set up (plus the first release build of reco, about 8-9 minutes).
"""
import argparse
import json
import os
import platform
import re
import sys
import time

import prereq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANCHORS = os.path.join(ROOT, "bench", "anchors")
VENV = os.environ.get("ANCHOR_VENV", "/tmp/anchor-venv")
SPLITS = "/tmp/anchor-splits"
ANCHOR_OUT = "/tmp/anchor-results.md"
RECO = os.path.join(ROOT, "target", "release", "reco")

# reco model → (evaluate flags, anchor row it is compared with)
RECO_MODELS = [
    ("popularity", [], "popularity"),
    ("als", ["--factors", "64", "--regularization", "0.05", "--alpha", "1", "--iterations", "15"],
     "implicit ALS cg, paper conf"),
    ("item-knn", ["--neighbors", "50"], "item-knn cosine"),
    ("knn", ["--neighbors", "50"], "user-knn cosine"),
    ("lightfm", ["--factors", "64", "--learning-rate", "0.05", "--epochs", "30", "--max-sampled", "10",
                 "--loss", "warp", "--no-item-features"], "lightfm warp"),
    # No reference system implements these two: reco's rows stand alone, at their defaults.
    ("ease", [], "(none)"),
    ("rp3beta", [], "(none)"),
]


def anchor_cmd():
    return [os.path.join(VENV, "bin", "python"), os.path.join(ANCHORS, "bench_anchors.py"),
            "--format", "onlineretail", "--path", os.path.join(ROOT, "data", "online_retail.csv.gz"),
            "--split-dir", SPLITS, "--out", ANCHOR_OUT]


def anchor_rows(path):
    rows = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and re.match(r"^[0-9.]+$", cells[1]):
            rows[cells[0]] = dict(zip(
                ["train_s", "batch_s", "p", "r", "ndcg", "map", "lat_med", "lat_p95"],
                [float(c) for c in cells[1:]]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-anchors", action="store_true", help="reuse /tmp/anchor-results.md and the split")
    ap.add_argument("--models", default=",".join(m for m, _, _ in RECO_MODELS))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "anchors-online-retail.md"))
    args = ap.parse_args()

    skip = args.skip_anchors and os.path.exists(ANCHOR_OUT) and os.path.exists(f"{SPLITS}/onlineretail-train.tsv")
    if args.skip_anchors and not skip:
        print(f"--skip-anchors: no earlier results ({ANCHOR_OUT}, {SPLITS}/); running the reference systems",
              file=sys.stderr)
    prereq.require(prereq.reference_needs(VENV, need_venv=not skip) + prereq.reco_needs(RECO))
    if not skip:
        prereq.step(["bash", os.path.join(ANCHORS, "setup.sh")], env={**os.environ, "ANCHOR_VENV": VENV},
                    what="setting up the reference systems' venv (bench/anchors/setup.sh)",
                    hint=prereq.SETUP_HINT, skip_if=prereq.venv_ready(VENV))
        prereq.step(anchor_cmd(), what="running the reference systems (bench/anchors/bench_anchors.py)",
                    hint="its error is above")
    prereq.build_reco(ROOT)
    anchors = anchor_rows(ANCHOR_OUT)
    wanted = args.models.split(",")
    lines = [
        "| system | model | train s | batch s | p@10 | r@10 | ndcg@10 | map@10 | latency median ms | latency p95 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = []
    for model, flags, anchor_prefix in RECO_MODELS:
        if model not in wanted:
            continue
        out = prereq.step([RECO, "evaluate", "--train", f"{SPLITS}/onlineretail-train.tsv", "--test",
                   f"{SPLITS}/onlineretail-test.tsv", "--model", model, "--threads", "2", "--json", *flags],
                  cwd=ROOT, capture_output=True, text=True, what=f"reco evaluate --model {model}").stdout
        m = json.loads(out)
        name, a = next(((n, r) for n, r in anchors.items() if n.startswith(anchor_prefix)), (anchor_prefix, None))
        if a:
            lines.append(f"| reference | {name} | {a['train_s']:.2f} | {a['batch_s']:.2f} | {a['p']:.4f} | {a['r']:.4f} | "
                         f"{a['ndcg']:.4f} | {a['map']:.4f} | {a['lat_med']:.3f} | {a['lat_p95']:.3f} |")
        lines.append(f"| **reco** | {model} | {m['train_seconds']:.2f} | {m['batch_seconds']:.2f} | {m['precision']:.4f} | "
                     f"{m['recall']:.4f} | **{m['ndcg']:.4f}** | {m['map']:.4f} | {m['latency_median_ms']:.3f} | "
                     f"{m['latency_p95_ms']:.3f} |")
        if a:
            def ratio(x, y):
                return f"{x / y:.2f}x" if y > 0 else "n/a"
            ratios.append(f"- {model}: NDCG@10 {m['ndcg']:.4f} vs {a['ndcg']:.4f}; train time "
                          f"{ratio(m['train_seconds'], a['train_s'])}, batch {ratio(m['batch_seconds'], a['batch_s'])}, "
                          f"single-user latency {ratio(m['latency_median_ms'], a['lat_med'])} of the reference")
    header = [
        "# reco vs reference systems: Online Retail",
        "",
        f"- measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{os.cpu_count()} cores ({cpu_name()}), one sitting, 2 threads for both sides",
        "- split, metric definitions and reference numbers: `bench/anchors/bench_anchors.py` "
        "(per-user random 80/20, seed 42; @10 with train items excluded)",
        "- reco: `reco evaluate --train … --test … --threads 2 --json` (see scripts/compare_anchors.py for flags)",
        "",
    ]
    text = "\n".join(header + lines + [""] + ratios) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


if __name__ == "__main__":
    main()
