#!/usr/bin/env python3
"""Quality across model seeds: reco vs implicit ALS and LightFM WARP on the anchors' split.

    python3 scripts/seed_study.py [--seeds 42,1,2,3,4,5,6,7,8,9] [--out bench/seed-study-online-retail.md]

One seed is one draw of a model's random initialisation (and, for WARP, of its negative
samples); the anchors' table reports the default seed 42 only, where two equally good models
differ by ±0.002 NDCG@10 by chance. This script keeps the split fixed (seed 42, the one
bench/anchors/bench_anchors.py writes) and trains each system once per model seed with the
anchors' settings and 2 threads: implicit ALS (CG, alpha=2 ≡ reco α=1) vs `reco --model als`,
LightFM WARP vs `reco --model lightfm --no-item-features`. The reference models are scored with
the anchors' own metric code (bench_anchors.evaluate), reco with `reco evaluate --json`
(the same definitions; popularity reproduces the anchors' figures exactly). It writes per-seed
NDCG@10, the mean, standard deviation and range per system, and the difference of the means
with its 95% interval (Welch).

It runs in the reference systems' venv (/tmp/anchor-venv, $ANCHOR_VENV; built by
bench/anchors/setup.sh when missing, about a minute) and checks what it needs first. Ten seeds
take about 3 minutes on a quiet 2-core machine (LightFM dominates), plus the first release build of reco.
"""
import argparse
import json
import math
import os
import statistics
import sys

import prereq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANCHORS = os.path.join(ROOT, "bench", "anchors")
VENV = os.environ.get("ANCHOR_VENV", "/tmp/anchor-venv")
SPLITS = "/tmp/anchor-splits"
RECO = os.path.join(ROOT, "target", "release", "reco")

RECO_FLAGS = {
    "als": ["--factors", "64", "--regularization", "0.05", "--alpha", "1", "--iterations", "15"],
    "lightfm": ["--factors", "64", "--learning-rate", "0.05", "--epochs", "30", "--max-sampled", "10",
                "--loss", "warp", "--no-item-features"],
}


def reference_ndcg(kind, seed, train, test, eval_users):
    import bench_anchors as ba
    if kind == "als":
        model = ba.ImplicitALS(64, 0.05, 2.0, 15, 2, seed, "implicit")
    else:
        model = ba.LightFMWarp(64, 0.05, 30, 10, 2, seed)
    model.fit(train)
    recs = ba.np.asarray(model.recommend_batch(eval_users, train))
    return ba.evaluate(recs, eval_users, test)["ndcg"]


def reco_ndcg(kind, seed):
    out = prereq.step(
        [RECO, "evaluate", "--train", f"{SPLITS}/onlineretail-train.tsv", "--test",
         f"{SPLITS}/onlineretail-test.tsv", "--model", kind, *RECO_FLAGS[kind], "--threads", "2",
         "--seed", str(seed), "--latency-users", "1", "--json"],
        what=f"reco evaluate --model {kind} --seed {seed}", capture_output=True, text=True).stdout
    return json.loads(out)["ndcg"]


def summary(values):
    return statistics.mean(values), statistics.stdev(values), min(values), max(values)


def welch(a, b):
    """Difference of means a − b and its 95% interval (normal approximation)."""
    d = statistics.mean(a) - statistics.mean(b)
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return d, d - 1.96 * se, d + 1.96 * se


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="42,1,2,3,4,5,6,7,8,9")
    ap.add_argument("--models", default="als,lightfm")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "seed-study-online-retail.md"))
    args = ap.parse_args()
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        ap.error(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 42,1,2")
    if len(seeds) < 2:
        ap.error("--seeds: give at least two seeds")
    unknown = [m for m in args.models.split(",") if m not in RECO_FLAGS]
    if unknown:
        ap.error(f"--models: unknown {', '.join(unknown)} (known: {', '.join(RECO_FLAGS)})")
    if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        prereq.require(prereq.reference_needs(VENV) + prereq.reco_needs(RECO))
        prereq.step(["bash", os.path.join(ANCHORS, "setup.sh")], env={**os.environ, "ANCHOR_VENV": VENV},
                    what="setting up the reference systems' venv (bench/anchors/setup.sh)",
                    hint=prereq.SETUP_HINT, skip_if=prereq.venv_ready(VENV))
        os.execv(os.path.join(VENV, "bin", "python"), [os.path.join(VENV, "bin", "python"), *sys.argv])
    prereq.build_reco(ROOT)

    sys.path.insert(0, ANCHORS)
    import bench_anchors as ba
    df, _ = ba.load("onlineretail", os.path.join(ROOT, "data", "online_retail.csv.gz"), 4.0, True)
    train, test, users, items = ba.split(df, 42, 0.2)
    ba.save_split(train, test, users, items, SPLITS, "onlineretail")
    eval_users = ba.np.nonzero(ba.np.diff(test.indptr) > 0)[0].astype(ba.np.int64)

    names = {"als": ("implicit ALS (CG, alpha=2)", "reco als (CG, α=1)"),
             "lightfm": ("LightFM WARP", "reco lightfm (WARP)")}
    lines = ["# NDCG@10 across model seeds (Online Retail, anchors' split)", "",
             f"`python3 scripts/seed_study.py --seeds {args.seeds}`; split seed 42 fixed; 2 threads; "
             f"{len(eval_users):,} evaluated users.", ""]
    for kind in args.models.split(","):
        ref, ours = [], []
        for seed in seeds:
            print(f"... {kind} seed {seed}", file=sys.stderr, flush=True)
            ref.append(reference_ndcg(kind, seed, train, test, eval_users))
            ours.append(reco_ndcg(kind, seed))
        ref_name, our_name = names[kind]
        lines += [f"## {kind}", "", "| seed | " + " | ".join(str(s) for s in seeds) + " |",
                  "|---|" + "---:|" * len(seeds)]
        for name, vals in ((ref_name, ref), (our_name, ours)):
            lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
        lines += ["", "| system | mean | sd | min | max |", "|---|---:|---:|---:|---:|"]
        for name, vals in ((ref_name, ref), (our_name, ours)):
            lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in summary(vals)) + " |")
        d, lo, hi = welch(ours, ref)
        lines += ["", f"reco − reference: {d:+.4f} (95% interval {lo:+.4f} .. {hi:+.4f})", ""]
        print("\n".join(lines[-12:]), flush=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
