#!/usr/bin/env python3
"""Reference ("anchor") benchmark for implicit-feedback recommenders.

Models: popularity, implicit ALS (CG), implicit item-item cosine KNN,
user-based cosine KNN (sklearn NearestNeighbors, brute), LightFM WARP,
optionally PySpark ALS (implicitPrefs=True).

All models are evaluated on the same reproducible per-user random 80/20 split
with the same metric code (train items filtered from every recommendation list).

Usage example (from the project root, after bench/anchors/setup.sh):
  bench/anchors/venv/bin/python bench/anchors/bench_anchors.py \
      --format onlineretail --path data/online_retail.csv.gz \
      --split-dir /tmp/anchor-splits

Formats:
  ml100k       u.data: user \t item \t rating \t timestamp
  ml1m         ratings.dat: user::item::rating::timestamp
  csv          header userId,movieId,rating[,timestamp] (MovieLens latest-small style)
  lightgcn     directory with train.txt/[valid.txt]/test.txt, lines "user item item ...";
               all files are merged into one interaction set before OUR split
  onlineretail online_retail.csv (UCI Online Retail); a purchase = row with CustomerID present,
               Quantity > 0, InvoiceNo not starting with 'C'; (CustomerID, StockCode) deduplicated

Interactions: for rating formats, rating >= --min-rating (default 4) is a positive;
--all-ratings uses every rating as an interaction. Values are binary (1.0).

Split (per user, seed 42): unique (user, item) pairs are sorted by (user_idx, item_idx)
(indices are ranks of the sorted raw ids); keys = numpy.random.default_rng(seed).random(n);
within each user the pairs with the smallest keys go to test; n_test(user) = floor(0.2 * n_u + 0.5).
Users with n_test = 0 are train-only and not evaluated. The split is written to
--split-dir as <name>-train.tsv / <name>-test.tsv (raw user id \t raw item id) so other
implementations can reuse it exactly.

Metrics @K (K=10), averaged over users with >= 1 test item; R = top-K list with train items removed,
T = user's test items, hits at 1-based ranks r:
  precision = |R ∩ T| / K
  recall    = |R ∩ T| / |T|
  ndcg      = sum_{hit r} 1/log2(r+1) / sum_{r=1..min(K,|T|)} 1/log2(r+1)
  map       = sum_{hit r} (hits within top r / r) / min(K, |T|)
Latency: median (and p95) wall time of one single-user top-K call (incl. filtering),
over --latency-users users sampled with seed 42 from the evaluated users. Single-user calls are
effectively single-threaded for every model (user-KNN's kneighbors runs with n_jobs=1 there).
"""
import os

# Thread settings must be in place before numpy/scipy load their BLAS.
# implicit recommends single-threaded BLAS; model-level parallelism uses num_threads=2.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse
import math
import platform
import sys
import time
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", message="Method expects CSR input")

K = 10


# ----------------------------------------------------------------------------- loading
def load(fmt, path, min_rating, all_ratings):
    if fmt == "ml100k":
        df = pd.read_csv(path, sep="\t", header=None, names=["user", "item", "rating", "ts"])
    elif fmt == "ml1m":
        df = pd.read_csv(path, sep="::", header=None, engine="python",
                         names=["user", "item", "rating", "ts"])
    elif fmt == "csv":
        df = pd.read_csv(path)
        df = df.rename(columns={"userId": "user", "movieId": "item"})[["user", "item", "rating"]]
    elif fmt == "lightgcn":
        rows = []
        for name in ("train.txt", "valid.txt", "test.txt"):
            p = os.path.join(path, name)
            if not os.path.exists(p):
                continue
            with open(p) as f:
                for line in f:
                    x = line.split()
                    if len(x) < 2:
                        continue
                    u = int(x[0])
                    rows.extend((u, int(i)) for i in x[1:])
        df = pd.DataFrame(rows, columns=["user", "item"])
        df["rating"] = 1.0
        all_ratings = True
    elif fmt == "onlineretail":
        o = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "Int64"})
        o = o[o.CustomerID.notna() & (o.Quantity > 0) & ~o.InvoiceNo.str.startswith("C")]
        df = pd.DataFrame({"user": o.CustomerID.astype("int64").values,
                           "item": o.StockCode.values, "rating": 1.0})
        all_ratings = True
    else:
        raise SystemExit(f"unknown format {fmt}")
    n_raw = len(df)
    if not all_ratings:
        df = df[df.rating >= min_rating]
    df = df[["user", "item"]].drop_duplicates()
    return df, n_raw


def split(df, seed, test_frac):
    users = np.sort(df.user.unique())
    items = np.sort(df.item.unique())
    uidx = np.searchsorted(users, df.user.values)
    iidx = np.searchsorted(items, df.item.values)
    order = np.lexsort((iidx, uidx))
    uidx, iidx = uidx[order], iidx[order]
    rng = np.random.default_rng(seed)
    keys = rng.random(len(uidx))
    order2 = np.lexsort((keys, uidx))  # by user, then key
    u2, i2 = uidx[order2], iidx[order2]
    counts = np.bincount(u2, minlength=len(users))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(u2)) - starts[u2]
    n_test = np.floor(test_frac * counts + 0.5).astype(np.int64)
    is_test = rank < n_test[u2]
    n_u, n_i = len(users), len(items)
    train = sp.csr_matrix((np.ones((~is_test).sum(), dtype=np.float32), (u2[~is_test], i2[~is_test])),
                          shape=(n_u, n_i))
    test = sp.csr_matrix((np.ones(is_test.sum(), dtype=np.float32), (u2[is_test], i2[is_test])),
                         shape=(n_u, n_i))
    train.sort_indices()
    test.sort_indices()
    return train, test, users, items


def save_split(train, test, users, items, split_dir, name):
    os.makedirs(split_dir, exist_ok=True)
    for part, m in (("train", train), ("test", test)):
        c = m.tocoo()
        o = np.lexsort((c.col, c.row))
        pd.DataFrame({"user": users[c.row[o]], "item": items[c.col[o]]}).to_csv(
            os.path.join(split_dir, f"{name}-{part}.tsv"), sep="\t", index=False, header=False)


# ----------------------------------------------------------------------------- metrics
def evaluate(recs, eval_users, test):
    """recs: int array (len(eval_users), K) of item ids, -1 = empty slot."""
    disc = 1.0 / np.log2(np.arange(2, K + 2))
    P = R = N = M = 0.0
    for row, u in enumerate(eval_users):
        t = test.indices[test.indptr[u]:test.indptr[u + 1]]
        tset = set(t.tolist())
        rec = recs[row]
        hits = np.array([(r in tset) for r in rec.tolist()], dtype=bool)
        nh = hits.sum()
        P += nh / K
        R += nh / len(t)
        idcg = disc[: min(K, len(t))].sum()
        N += (disc[hits]).sum() / idcg
        if nh:
            cum = np.cumsum(hits)
            ranks = np.nonzero(hits)[0]
            M += (cum[ranks] / (ranks + 1)).sum() / min(K, len(t))
    n = len(eval_users)
    return dict(precision=P / n, recall=R / n, ndcg=N / n, map=M / n)


def topk_from_scores(scores, train_rows):
    """scores: dense (b, n_items) float array; train_rows: csr rows for those users."""
    scores = scores.copy()
    for r in range(scores.shape[0]):
        scores[r, train_rows.indices[train_rows.indptr[r]:train_rows.indptr[r + 1]]] = -np.inf
    part = np.argpartition(-scores, K, axis=1)[:, :K]
    ps = np.take_along_axis(scores, part, axis=1)
    o = np.argsort(-ps, axis=1, kind="stable")
    top = np.take_along_axis(part, o, axis=1)
    top[np.take_along_axis(ps, o, axis=1) == -np.inf] = -1
    return top


# ----------------------------------------------------------------------------- models
class Popularity:
    name = "popularity"

    def fit(self, train):
        self.pop = np.asarray(train.sum(axis=0)).ravel()
        self.order = np.argsort(-self.pop, kind="stable")

    def recommend_one(self, u, train):
        seen = set(train.indices[train.indptr[u]:train.indptr[u + 1]].tolist())
        out = []
        for i in self.order:
            if i not in seen:
                out.append(i)
                if len(out) == K:
                    break
        return np.array(out)

    def recommend_batch(self, users, train):
        return np.array([self.recommend_one(u, train) for u in users])


class ImplicitALS:
    def __init__(self, factors, reg, alpha, iters, threads, seed, name):
        from implicit.cpu.als import AlternatingLeastSquares
        self.name = name
        self.model = AlternatingLeastSquares(factors=factors, regularization=reg, alpha=alpha,
                                             iterations=iters, use_cg=True, use_native=True,
                                             num_threads=threads, random_state=seed,
                                             calculate_training_loss=False)

    def fit(self, train):
        self.model.fit(train, show_progress=False)  # user x item CSR (implicit >= 0.5)

    def recommend_one(self, u, train):
        ids, _ = self.model.recommend(u, train[u], N=K, filter_already_liked_items=True)
        return ids

    def recommend_batch(self, users, train):
        ids, _ = self.model.recommend(users, train[users], N=K, filter_already_liked_items=True)
        return ids


class ImplicitItemKNN:
    def __init__(self, k, threads):
        from implicit.nearest_neighbours import CosineRecommender
        self.name = f"item-knn cosine (implicit, K={k})"
        self.model = CosineRecommender(K=k, num_threads=threads)

    def fit(self, train):
        self.model.fit(train, show_progress=False)  # user x item

    def recommend_one(self, u, train):
        ids, sc = self.model.recommend(u, train[u], N=K, filter_already_liked_items=True)
        return ids

    def recommend_batch(self, users, train):
        ids, sc = self.model.recommend(users, train[users], N=K, filter_already_liked_items=True)
        return ids


class UserKNN:
    """User-based cosine KNN: score(u, i) = sum_{v in N_k(u)} cos(u, v) * r_vi; popularity fill."""

    def __init__(self, k, threads):
        from sklearn.neighbors import NearestNeighbors
        self.name = f"user-knn cosine (sklearn brute, k={k})"
        self.k = k
        self.nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute", n_jobs=threads)

    def fit(self, train):
        self.train = train
        self.nn.fit(train)
        pop = np.asarray(train.sum(axis=0)).ravel()
        self.pop_order = np.argsort(-pop, kind="stable")

    def _neighbours(self, users, train):
        dist, ind = self.nn.kneighbors(train[users], n_neighbors=self.k + 1)
        sims = np.zeros((len(users), self.k), dtype=np.float64)
        nbrs = np.zeros((len(users), self.k), dtype=np.int64)
        for r, u in enumerate(users):
            keep = ind[r] != u
            d, i = dist[r][keep][: self.k], ind[r][keep][: self.k]
            nbrs[r, : len(i)] = i
            sims[r, : len(i)] = 1.0 - d
        return sims, nbrs

    def _score_rows(self, sims, nbrs, train_rows):
        b = sims.shape[0]
        W = sp.csr_matrix((sims.ravel(), nbrs.ravel(), np.arange(0, b * self.k + 1, self.k)),
                          shape=(b, self.train.shape[0]))
        scores = np.asarray((W @ self.train).todense())
        top = topk_from_scores(scores, train_rows)
        # items with score <= 0 are not real neighbour evidence -> popularity fill
        out = np.empty_like(top)
        for r in range(b):
            row = [i for i in top[r] if i >= 0 and scores[r, i] > 0]
            if len(row) < K:
                seen = set(train_rows.indices[train_rows.indptr[r]:train_rows.indptr[r + 1]].tolist())
                seen.update(row)
                for i in self.pop_order:
                    if i not in seen:
                        row.append(i)
                        if len(row) == K:
                            break
            out[r] = row
        return out

    def recommend_one(self, u, train):
        # single query: n_jobs=1 (joblib dispatch for one row costs ~12 ms with n_jobs=2)
        nj, self.nn.n_jobs = self.nn.n_jobs, 1
        try:
            sims, nbrs = self._neighbours([u], train)
        finally:
            self.nn.n_jobs = nj
        return self._score_rows(sims, nbrs, train[[u]])[0]

    def recommend_batch(self, users, train, chunk=1024):
        out = []
        for s in range(0, len(users), chunk):
            us = users[s:s + chunk]
            sims, nbrs = self._neighbours(us, train)
            out.append(self._score_rows(sims, nbrs, train[us]))
        return np.vstack(out)


class LightFMWarp:
    def __init__(self, comps, lr, epochs, max_sampled, threads, seed):
        from lightfm import LightFM
        self.name = "lightfm warp"
        self.epochs, self.threads = epochs, threads
        self.model = LightFM(no_components=comps, learning_rate=lr, loss="warp",
                             max_sampled=max_sampled, random_state=seed)

    def fit(self, train):
        self.model.fit(train.tocoo(), epochs=self.epochs, num_threads=self.threads)
        self.n_items = train.shape[1]
        self.item_ids = np.arange(self.n_items, dtype=np.int32)

    def recommend_one(self, u, train):
        s = self.model.predict(np.full(self.n_items, u, dtype=np.int32), self.item_ids, num_threads=1)
        return topk_from_scores(s[None, :], train[[u]])[0]

    def recommend_batch(self, users, train, chunk=2048):
        # identical ranking to LightFM.predict (identity features): u.v + item_bias (+ const user bias)
        U = self.model.user_embeddings
        V = self.model.item_embeddings
        b = self.model.item_biases
        out = []
        for s in range(0, len(users), chunk):
            us = users[s:s + chunk]
            out.append(topk_from_scores(U[us] @ V.T + b[None, :], train[us]))
        return np.vstack(out)


class SparkALS:
    def __init__(self, rank, reg, alpha, iters, seed):
        self.name = f"spark als implicitPrefs (rank={rank}, regParam={reg}, alpha={alpha})"
        self.rank, self.reg, self.alpha, self.iters, self.seed = rank, reg, alpha, iters, seed

    def fit(self, train):
        from pyspark.sql import SparkSession
        from pyspark.ml.recommendation import ALS
        t0 = time.perf_counter()
        self.spark = (SparkSession.builder.master("local[2]").appName("anchor")
                      .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                      .config("spark.driver.bindAddress", "127.0.0.1")
                      .config("spark.driver.memory", "4g").getOrCreate())
        self.spark.sparkContext.setLogLevel("ERROR")
        self.startup_s = time.perf_counter() - t0
        c = train.tocoo()
        pdf = pd.DataFrame({"user": c.row.astype("int32"), "item": c.col.astype("int32"),
                            "rating": c.data.astype("float32")})
        df = self.spark.createDataFrame(pdf).cache()
        df.count()
        t1 = time.perf_counter()
        als = ALS(rank=self.rank, maxIter=self.iters, regParam=self.reg, alpha=self.alpha,
                  implicitPrefs=True, userCol="user", itemCol="item", ratingCol="rating",
                  seed=self.seed, coldStartStrategy="drop")
        m = als.fit(df)
        uf = m.userFactors.toPandas()
        itf = m.itemFactors.toPandas()
        self.fit_only_s = time.perf_counter() - t1
        self.U = np.zeros((train.shape[0], self.rank), dtype=np.float32)
        self.V = np.zeros((train.shape[1], self.rank), dtype=np.float32)
        self.U[uf.id.values] = np.vstack(uf.features.values)
        self.V[itf.id.values] = np.vstack(itf.features.values)
        self.spark.stop()

    def recommend_one(self, u, train):
        return topk_from_scores((self.U[u] @ self.V.T)[None, :], train[[u]])[0]

    def recommend_batch(self, users, train, chunk=2048):
        out = []
        for s in range(0, len(users), chunk):
            us = users[s:s + chunk]
            out.append(topk_from_scores(self.U[us] @ self.V.T, train[us]))
        return np.vstack(out)


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--format", required=True,
                    choices=["ml100k", "ml1m", "csv", "lightgcn", "onlineretail"])
    ap.add_argument("--path", required=True)
    ap.add_argument("--name", default=None, help="dataset label (default: from format)")
    ap.add_argument("--min-rating", type=float, default=4.0)
    ap.add_argument("--all-ratings", action="store_true", help="use every rating as an interaction")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--test-frac", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="pop,als,als_paper,itemknn,userknn,lightfm",
                    help="comma list of pop,als,als_paper,itemknn,userknn,lightfm,spark")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--als-reg", type=float, default=0.05)
    ap.add_argument("--als-alpha", type=float, default=1.0)
    ap.add_argument("--als-iters", type=int, default=15)
    ap.add_argument("--item-k", type=int, default=50)
    ap.add_argument("--user-k", type=int, default=50)
    ap.add_argument("--lfm-lr", type=float, default=0.05)
    ap.add_argument("--lfm-epochs", type=int, default=30)
    ap.add_argument("--lfm-max-sampled", type=int, default=10)
    ap.add_argument("--latency-users", type=int, default=200)
    ap.add_argument("--split-dir", default="anchor-splits")
    ap.add_argument("--out", default=None, help="markdown output (default results-<name>.md)")
    args = ap.parse_args()

    name = args.name or args.format
    mode = "all ratings" if (args.all_ratings or args.format in ("lightgcn", "onlineretail")) \
        else f"rating >= {args.min_rating:g}"
    t0 = time.perf_counter()
    df, n_raw = load(args.format, args.path, args.min_rating, args.all_ratings)
    train, test, users, items = split(df, args.seed, args.test_frac)
    save_split(train, test, users, items, args.split_dir, name)
    load_s = time.perf_counter() - t0
    eval_users = np.nonzero(np.diff(test.indptr) > 0)[0].astype(np.int64)
    rng = np.random.default_rng(args.seed)
    lat_users = rng.choice(eval_users, size=min(args.latency_users, len(eval_users)), replace=False)

    import implicit, lightfm, sklearn, scipy, threadpoolctl
    lines = []
    pr = lambda s="": (print(s, flush=True), lines.append(s))
    pr(f"# Anchor results: {name}")
    pr()
    pr(f"- source: `{args.path}` (format `{args.format}`), raw rows {n_raw:,}; interactions: {mode}")
    pr(f"- after filter+dedup: {train.nnz + test.nnz:,} interactions, {train.shape[0]:,} users, "
       f"{train.shape[1]:,} items; density {(train.nnz + test.nnz) / (train.shape[0] * train.shape[1]):.5f}")
    pr(f"- split: per-user random {1 - args.test_frac:.0%}/{args.test_frac:.0%}, seed {args.seed}: "
       f"train {train.nnz:,}, test {test.nnz:,}; evaluated users {len(eval_users):,}; "
       f"split files `{args.split_dir}/{name}-{{train,test}}.tsv`")
    pr(f"- metrics @{K}, train items filtered; latency = single-user top-{K} call, "
       f"{len(lat_users)} users (seed {args.seed})")
    pr(f"- threads: model num_threads={args.threads}, BLAS={os.environ.get('OPENBLAS_NUM_THREADS')} "
       f"(OPENBLAS_NUM_THREADS), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
       f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    pr(f"- versions: python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
       f"scikit-learn {sklearn.__version__}, implicit {implicit.__version__}, lightfm {lightfm.__version__}")
    pr(f"- load+split time {load_s:.2f}s")
    pr()

    wanted = [m.strip() for m in args.models.split(",") if m.strip()]
    models = []
    for m in wanted:
        if m == "pop":
            models.append(Popularity())
        elif m == "als":
            models.append(ImplicitALS(args.factors, args.als_reg, args.als_alpha, args.als_iters,
                                      args.threads, args.seed,
                                      f"implicit ALS cg (f={args.factors}, reg={args.als_reg:g}, "
                                      f"alpha={args.als_alpha:g} -> C_ui={args.als_alpha:g})"))
        elif m == "als_paper":
            # Hu/Koren/Volinsky confidence C = 1 + a*r with a = als_alpha, r = 1  <=>  implicit alpha = 1 + a
            a = 1.0 + args.als_alpha
            models.append(ImplicitALS(args.factors, args.als_reg, a, args.als_iters, args.threads, args.seed,
                                      f"implicit ALS cg, paper conf 1+{args.als_alpha:g}*r "
                                      f"(implicit alpha={a:g} -> C_ui={a:g})"))
        elif m == "itemknn":
            models.append(ImplicitItemKNN(args.item_k, args.threads))
        elif m == "userknn":
            models.append(UserKNN(args.user_k, args.threads))
        elif m == "lightfm":
            models.append(LightFMWarp(args.factors, args.lfm_lr, args.lfm_epochs, args.lfm_max_sampled,
                                      args.threads, args.seed))
        elif m == "spark":
            models.append(SparkALS(args.factors, args.als_reg, args.als_alpha, args.als_iters, args.seed))
        else:
            raise SystemExit(f"unknown model {m}")

    pr(f"| model | train s | batch recommend s | p@{K} | r@{K} | ndcg@{K} | map@{K} | "
       f"latency median ms | latency p95 ms |")
    pr("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    for model in models:
        print(f"... fitting {model.name}", file=sys.stderr, flush=True)
        t = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        recs = model.recommend_batch(eval_users, train)
        rec_s = time.perf_counter() - t
        recs = np.asarray(recs)
        # sanity: no train item recommended, no duplicates
        for r, u in enumerate(eval_users[:500]):
            row = recs[r][recs[r] >= 0]
            assert len(set(row.tolist())) == len(row)
            assert not set(row.tolist()) & set(train.indices[train.indptr[u]:train.indptr[u + 1]].tolist())
        met = evaluate(recs, eval_users, test)
        lat = []
        for u in lat_users:
            t = time.perf_counter()
            model.recommend_one(int(u), train)
            lat.append(time.perf_counter() - t)
        lat = np.array(lat) * 1000
        pr(f"| {model.name} | {fit_s:.2f} | {rec_s:.2f} | {met['precision']:.4f} | {met['recall']:.4f} | "
           f"{met['ndcg']:.4f} | {met['map']:.4f} | {np.median(lat):.3f} | {np.percentile(lat, 95):.3f} |")
        if isinstance(model, SparkALS):
            notes.append(f"spark: train s includes SparkSession start {model.startup_s:.1f}s; "
                         f"ALS.fit+factor collect {model.fit_only_s:.1f}s; Spark regParam is scaled by "
                         f"n_ratings per user/item (ALS-WR), so it is not the same regularization as implicit's")
    if notes:
        pr()
        for n in notes:
            pr(f"- {n}")
    out = args.out or f"results-{name}.md"
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
