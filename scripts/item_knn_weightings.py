#!/usr/bin/env python3
"""Item-KNN with cosine, TF-IDF and BM25 weighting: reco vs implicit 0.7.3 on the reference split.

    python3 scripts/item_knn_weightings.py [--k 50]

Needs the reference systems' venv and split, which `python3 scripts/compare_anchors.py` makes
(venv in /tmp/anchor-venv or $ANCHOR_VENV, split in /tmp/anchor-splits), and a release build of
reco. implicit: CosineRecommender, TFIDFRecommender, BM25Recommender(K1=1.2, B=0.75) fitted on the
binary train matrix, recommend(filter_already_liked_items=True); reco: `reco evaluate --train …
--test … --model item-knn --knn-weighting …`. Both NDCG@10 with bench/anchors' metric code
(reco's own metric code gives the same figure).
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("ANCHOR_VENV", "/tmp/anchor-venv")
SPLIT = "/tmp/anchor-splits/onlineretail"
RECO = os.path.join(ROOT, "target", "release", "reco")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=50, help="neighbours per item")
    args = ap.parse_args()
    missing = [p for p in (f"{SPLIT}-train.tsv", f"{SPLIT}-test.tsv", os.path.join(VENV, "bin", "python"), RECO)
               if not os.path.exists(p)]
    if missing:
        sys.exit("missing: " + ", ".join(missing) + "\nrun `python3 scripts/compare_anchors.py` first "
                 "(it builds the venv, the split and reco)")
    if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        os.execv(os.path.join(VENV, "bin", "python"), [os.path.join(VENV, "bin", "python"), *sys.argv])

    import numpy as np
    import scipy.sparse as sp
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender
    sys.path.insert(0, os.path.join(ROOT, "bench", "anchors"))
    import bench_anchors

    def read(path):
        with open(path) as f:
            return [line.rstrip("\n").split("\t")[:2] for line in f if line.strip()]

    def sorted_ids(ids):
        ids = set(ids)
        try:
            return sorted(ids, key=int)
        except ValueError:
            return sorted(ids)

    train_pairs, test_pairs = read(f"{SPLIT}-train.tsv"), read(f"{SPLIT}-test.tsv")
    users = sorted_ids(u for u, _ in train_pairs + test_pairs)
    items = sorted_ids(i for _, i in train_pairs + test_pairs)
    uix, iix = {u: k for k, u in enumerate(users)}, {i: k for k, i in enumerate(items)}

    def matrix(pairs):
        rows, cols = [uix[u] for u, _ in pairs], [iix[i] for _, i in pairs]
        m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(users), len(items)))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    train, test = matrix(train_pairs), matrix(test_pairs)
    eval_users = np.array([u for u in range(len(users)) if test.indptr[u + 1] > test.indptr[u]])
    print(f"| item-KNN, K={args.k} | implicit 0.7.3 NDCG@10 | reco NDCG@10 |")
    print("|---|---:|---:|")
    for name, model in [("cosine", CosineRecommender(K=args.k)), ("tfidf", TFIDFRecommender(K=args.k)),
                        ("bm25", BM25Recommender(K=args.k, K1=1.2, B=0.75))]:
        model.fit(train, show_progress=False)
        ids, _ = model.recommend(eval_users, train[eval_users], N=bench_anchors.K, filter_already_liked_items=True)
        ref = bench_anchors.evaluate(ids, eval_users, test)["ndcg"]
        out = subprocess.run([RECO, "evaluate", "--train", f"{SPLIT}-train.tsv", "--test", f"{SPLIT}-test.tsv",
                              "--model", "item-knn", "--neighbors", str(args.k), "--knn-weighting", name,
                              "--json", "--quiet"], check=True, capture_output=True, text=True).stdout
        print(f"| {name} | {ref:.4f} | {json.loads(out)['ndcg']:.4f} |")


if __name__ == "__main__":
    main()
