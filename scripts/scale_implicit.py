#!/usr/bin/env python3
"""implicit 0.7.3 on a `reco generate` CSV, for the scale benchmarks (scripts/bench-scale.sh,
scripts/bench-knn-scale.sh). Run it with the reference systems' venv (bench/anchors/setup.sh,
e.g. ANCHOR_VENV=/tmp/anchor-venv) and, for the peak memory, under `/usr/bin/time -v`.

    python scale_implicit.py FILE.csv.gz als   [--factors 64 --regularization 0.05 --alpha 1
                                                --iterations 15 --threads 2]
    python scale_implicit.py FILE.csv.gz itemknn [--k 50 --threads 2 --queries 2000]

1. load: pandas `read_csv` of the user and item columns as categoricals (the ids become
   integer codes in sorted order, as reco's ingest numbers them), a binary user × item
   `scipy.sparse.csr_matrix` (float32; duplicates summed, which `reco generate` never writes).
2. als: `implicit.cpu.als.AlternatingLeastSquares` with reco's defaults: 64 factors,
   λ 0.05, 15 iterations, conjugate gradient with 3 steps (implicit's default `cg_steps`),
   2 threads. reco's confidence is c = 1 + alpha·r, implicit's c = its alpha·r, so implicit
   gets alpha = 1 + reco's alpha (= 2 on the binary data: the same c).
   itemknn: `implicit.nearest_neighbours.CosineRecommender(K=k)` (reco's default item-KNN
   weighting, cosine, k 50, the item itself kept), then `recommend` one user at a time for
   `--queries` users (seeded sample) with the user's items filtered: median / p95 / p99 ms.

Prints one `key value` line per figure (seconds; peak RSS so far in MiB from getrusage) for
the calling script to parse.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import resource
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def say(key, value):
    print(f"{key} {value}", flush=True)


def load(path):
    t0 = time.perf_counter()
    df = pd.read_csv(path, usecols=["user_id", "item_id"],
                     dtype={"user_id": "category", "item_id": "category"})
    users = df["user_id"].cat.codes.to_numpy()
    items = df["item_id"].cat.codes.to_numpy()
    n_users = len(df["user_id"].cat.categories)
    n_items = len(df["item_id"].cat.categories)
    n = len(df)
    del df
    m = sp.csr_matrix((np.ones(n, dtype=np.float32), (users, items)), shape=(n_users, n_items))
    m.sum_duplicates()
    del users, items
    say("load_s", f"{time.perf_counter() - t0:.2f}")
    say("load_peak_mib", f"{peak_mib():.0f}")
    say("shape", f"{n_users}x{n_items} nnz={m.nnz}")
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("model", choices=["als", "itemknn"])
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--regularization", type=float, default=0.05)
    ap.add_argument("--alpha", type=float, default=1.0, help="reco's alpha (c = 1 + alpha·r)")
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    import implicit
    say("implicit", implicit.__version__)
    m = load(args.path)
    if args.model == "als":
        from implicit.cpu.als import AlternatingLeastSquares
        model = AlternatingLeastSquares(factors=args.factors, regularization=args.regularization,
                                        alpha=1.0 + args.alpha, iterations=args.iterations,
                                        use_cg=True, use_native=True, num_threads=args.threads,
                                        random_state=args.seed, calculate_training_loss=False)
        t0 = time.perf_counter()
        model.fit(m, show_progress=False)
        say("train_s", f"{time.perf_counter() - t0:.2f}")
        say("peak_mib", f"{peak_mib():.0f}")
        return
    from implicit.nearest_neighbours import CosineRecommender
    model = CosineRecommender(K=args.k, num_threads=args.threads)
    t0 = time.perf_counter()
    model.fit(m, show_progress=False)
    say("train_s", f"{time.perf_counter() - t0:.2f}")
    say("train_peak_mib", f"{peak_mib():.0f}")
    rng = np.random.default_rng(args.seed)
    users = rng.choice(m.shape[0], size=min(args.queries, m.shape[0]), replace=False)
    lat = []
    for u in users:
        t = time.perf_counter()
        model.recommend(int(u), m[int(u)], N=10, filter_already_liked_items=True)
        lat.append(time.perf_counter() - t)
    lat = np.array(lat) * 1e3
    say("queries", len(lat))
    say("query_mean_ms", f"{lat.mean():.3f}")
    say("query_median_ms", f"{np.median(lat):.3f}")
    say("query_p95_ms", f"{np.percentile(lat, 95):.3f}")
    say("query_p99_ms", f"{np.percentile(lat, 99):.3f}")
    say("peak_mib", f"{peak_mib():.0f}")


if __name__ == "__main__":
    sys.exit(main())
