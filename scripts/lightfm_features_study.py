#!/usr/bin/env python3
"""LightFM with item features: reco vs LightFM 1.17 on the same split with the same features.

    python3 scripts/lightfm_features_study.py [--seeds 42,1,2,3,4,5,6,7,8,9] [--threads 2]
        [--train TRAIN.tsv --test TEST.tsv] [--out bench/lightfm-features-online-retail.md]

What `reco train --model lightfm` trains by default: WARP, 64 factors, adagrad with learning
rate 0.05, 30 epochs, max_sampled 10, no L2 (alpha 0), with item features = identity + the
words of the product name shared by at least two products + a power-of-two unit-price band,
each row normalized to sum 1 (server/src/item_features.rs). This script trains LightFM 1.17
and reco on the very same feature matrix, once per model seed, the systems interleaved (their
order alternates from seed to seed, so a busy spell of a shared machine hits both), and prints
train seconds and NDCG@10 per seed and the mean, sd and reco/LightFM ratios.

1. Split. By default the reference split of the README's benchmarks, rebuilt here from
   data/online_retail.csv.gz: rows with a customer, quantity > 0 and an invoice not starting
   with "C"; unique (customer, stock code) pairs; per customer a seeded (numpy default_rng(42))
   random 20 % of the items, n_test = floor(0.2 n_u + 0.5), to test. It is the split that
   LightFM/implicit reference script writes as onlineretail-{train,test}.tsv; pass those (or
   any split: headerless `user<TAB>item` lines) with --train/--test instead.
2. Features. reco's own item-feature matrix: `reco ingest` of the same CSV into a temporary
   folder and `reco train --model lightfm --epochs 1` write a model file whose
   `item_features.*` tensors are that matrix (rows = ingested items, `reco.item_ids` their
   stock codes, params `item_feature_names` the column names). The rows of the split's items
   are written to <work>/item-features.tsv (`item<TAB>feature<TAB>weight`, weights as exact
   float32 decimals, columns no split item uses dropped), which both sides read: LightFM as a
   scipy CSR matrix, reco through core/examples/lightfm_split.rs --item-features. The example
   prints a checksum of the matrix it built and the script checks it against its own.
3. Train and score. LightFM(no_components=64, learning_rate=0.05, loss="warp",
   max_sampled=10, random_state=seed).fit(train, item_features=F, epochs=30, num_threads=T),
   timed around fit; scores U·(F·V)ᵀ + F·b (the user bias does not change a ranking).
   reco: lightfm_split with THREADS=T SEED=seed, timed around `lightfm::fit`. NDCG@10 with
   train items excluded, over users with a test item (README "Metrics"). --identity-too adds
   both systems without item features (the README's main table's configuration).

Needs cargo (it builds reco in release) and a Python with lightfm 1.17, numpy and scipy. It
re-runs itself with $LIGHTFM_PYTHON (default /tmp/lightfm-venv/bin/python) and creates that
venv when it is missing (about a minute; LightFM 1.17's sdist only builds with the legacy
setup.py path, so its wheel is built in a throwaway venv with setuptools 65.5.0 — needs PyPI).
"""
import argparse
import csv
import gzip
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from seed_study import welch  # the same interval as the seed study

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.environ.get("LIGHTFM_PYTHON", "/tmp/lightfm-venv/bin/python")
RECO = os.path.join(ROOT, "target", "release", "reco")
EXAMPLE = os.path.join(ROOT, "target", "release", "examples", "lightfm_split")
K = 10


def ensure_python():
    """Re-runs this script with a Python that has lightfm 1.17 (creating the venv if needed)."""
    try:
        import lightfm  # noqa: F401
        import numpy  # noqa: F401
        import scipy  # noqa: F401
        if lightfm.__version__ == "1.17":
            return
    except ImportError:
        pass
    if os.environ.get("LIGHTFM_STUDY_REEXEC"):
        raise SystemExit(f"{PYTHON} has no lightfm 1.17 + numpy + scipy; delete its venv and rerun, "
                         "or point LIGHTFM_PYTHON at a Python that has them")
    if not os.path.exists(PYTHON):
        venv = os.path.dirname(os.path.dirname(PYTHON))
        print(f"creating {venv} with lightfm 1.17, numpy, scipy (about a minute) ...", file=sys.stderr)
        build = tempfile.mkdtemp()
        steps = [
            [sys.executable, "-m", "venv", venv],
            [os.path.join(venv, "bin", "pip"), "install", "-q", "numpy", "scipy"],
            [sys.executable, "-m", "venv", os.path.join(build, "venv")],
            [os.path.join(build, "venv", "bin", "pip"), "install", "-q", "setuptools==65.5.0", "wheel"],
            [os.path.join(build, "venv", "bin", "pip"), "wheel", "-q", "--no-deps", "--no-use-pep517",
             "-w", os.path.join(build, "wheels"), "lightfm==1.17"],
        ]
        for cmd in steps:
            if subprocess.run(cmd).returncode != 0:
                raise SystemExit(f"setting up the LightFM venv failed at: {' '.join(cmd)}")
        wheel = [f for f in os.listdir(os.path.join(build, "wheels")) if f.startswith("lightfm-")]
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q",
                        os.path.join(build, "wheels", wheel[0])], check=True)
    os.environ["LIGHTFM_STUDY_REEXEC"] = "1"
    os.execv(PYTHON, [PYTHON, *sys.argv])


# ----------------------------------------------------------------------------- split
def reference_split(csv_path, seed=42, test_frac=0.2):
    """The README's reference split of Online Retail: (train pairs, test pairs) of raw ids."""
    import numpy as np
    pairs = set()
    with gzip.open(csv_path, "rt", newline="") as f:
        for row in csv.DictReader(f):
            if not row["CustomerID"] or row["InvoiceNo"].startswith("C") or float(row["Quantity"]) <= 0:
                continue
            pairs.add((int(float(row["CustomerID"])), row["StockCode"]))
    users = np.array(sorted({u for u, _ in pairs}), dtype=np.int64)
    items = np.array(sorted({i for _, i in pairs}))
    uidx = np.searchsorted(users, np.array([u for u, _ in pairs], dtype=np.int64))
    iidx = np.searchsorted(items, np.array([i for _, i in pairs]))
    order = np.lexsort((iidx, uidx))
    uidx, iidx = uidx[order], iidx[order]
    keys = np.random.default_rng(seed).random(len(uidx))
    order2 = np.lexsort((keys, uidx))
    u2, i2 = uidx[order2], iidx[order2]
    counts = np.bincount(u2, minlength=len(users))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(u2)) - starts[u2]
    is_test = rank < np.floor(test_frac * counts + 0.5).astype(np.int64)[u2]
    pick = lambda mask: sorted((str(users[u]), str(items[i])) for u, i in zip(u2[mask], i2[mask]))
    return pick(~is_test), pick(is_test)


def read_pairs(path):
    with open(path) as f:
        return [tuple(line.rstrip("\n").split("\t")[:2]) for line in f if line.strip()]


def write_pairs(path, pairs):
    with open(path, "w") as f:
        f.writelines(f"{u}\t{i}\n" for u, i in pairs)


def sorted_ids(ids):
    """The order core/examples/lightfm_split.rs indexes ids in: numeric if all are integers."""
    ids = set(ids)
    try:
        return sorted(ids, key=int)
    except ValueError:
        return sorted(ids)


# ----------------------------------------------------------------------------- features
def read_safetensors(path):
    """(tensors by name as numpy arrays, metadata) of a safetensors file."""
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": np.float32, "U32": np.uint32, "U64": np.uint64, "F16": np.float16}
    out = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dtypes[t["dtype"]]).reshape(t["shape"])
    return out, meta


def reco_item_features(csv_path, work):
    """reco's item-feature matrix of the ingested catalog: (scipy CSR, item ids, feature names)."""
    import scipy.sparse as sp
    feats = os.path.join(work, "features")
    model = os.path.join(work, "lightfm-features.safetensors")
    run([RECO, "ingest", csv_path, "--features", feats,
         "--interactions", os.path.join(work, "interactions.tsv")])
    run([RECO, "train", "--model", "lightfm", "--features", feats, "--out", model, "--epochs", "1",
         "--threads", "1"])
    t, meta = read_safetensors(model)
    shape = [int(x) for x in t["item_features.shape"]]
    m = sp.csr_matrix((t["item_features.data"], t["item_features.indices"].astype("int64"),
                       t["item_features.indptr"].astype("int64")), shape=shape)
    names = json.loads(meta["reco.params"])["item_feature_names"] if "reco.params" in meta else None
    if names is None:
        raise SystemExit(f"{model}: no item_feature_names in the params (did reco train use item features?)")
    return m, json.loads(meta["reco.item_ids"]), names


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def f32_text(v):
    """A decimal that parses back to exactly the float32 `v` (repr of its double value)."""
    return repr(float(v))


def checksum(m):
    """What lightfm_split prints for its feature matrix: shape, nnz and Σ weight·(1 + row + 3·col)."""
    import numpy as np
    c = m.tocoo()
    s = float(np.sum(c.data.astype(np.float64) * (1.0 + c.row + 3.0 * c.col)))
    return f"{m.shape[0]}x{m.shape[1]} nnz {m.nnz} sum {s:.3f}"


# ----------------------------------------------------------------------------- metrics
def ndcg_at_k(scores, train, test):
    """Mean NDCG@K over users with a test item; train items excluded (README "Metrics")."""
    import numpy as np
    disc = 1.0 / np.log2(np.arange(2, K + 2))
    total, n = 0.0, 0
    for u in range(train.shape[0]):
        t = test.indices[test.indptr[u]:test.indptr[u + 1]]
        if len(t) == 0:
            continue
        s = scores[u].astype(np.float64)
        s[train.indices[train.indptr[u]:train.indptr[u + 1]]] = -np.inf
        top = np.argsort(-s, kind="stable")[:K]
        hits = np.isin(top, t) & np.isfinite(s[top])
        total += disc[hits].sum() / disc[:min(K, len(t))].sum()
        n += 1
    return total / n


def lightfm_run(train, test, features, seed, threads):
    from lightfm import LightFM
    model = LightFM(no_components=64, learning_rate=0.05, loss="warp", max_sampled=10,
                    learning_schedule="adagrad", item_alpha=0.0, user_alpha=0.0, random_state=seed)
    coo = train.tocoo()
    start = time.perf_counter()
    model.fit(coo, item_features=features, epochs=30, num_threads=threads)
    seconds = time.perf_counter() - start
    if features is None:
        q, b = model.item_embeddings, model.item_biases
    else:
        q, b = features @ model.item_embeddings, features @ model.item_biases
    scores = model.user_embeddings @ q.T + b[None, :]
    return seconds, ndcg_at_k(scores, train, test)


def reco_run(train_tsv, test_tsv, features_tsv, seed, threads, expect_checksum):
    cmd = [EXAMPLE, train_tsv, test_tsv]
    if features_tsv:
        cmd += ["--item-features", features_tsv]
    out = run(cmd, env={**os.environ, "THREADS": str(threads), "SEED": str(seed)})
    got = {}
    for line in out.splitlines():
        if line.startswith("train time:"):
            got["seconds"] = float(line.split()[2])
        elif line.startswith("NDCG@10:"):
            got["ndcg"] = float(line.split()[1])
        elif line.startswith("item features:"):
            got["checksum"] = line.split(":", 1)[1].strip()
    if features_tsv and got.get("checksum") != expect_checksum:
        raise SystemExit(f"reco built another feature matrix: {got.get('checksum')} vs {expect_checksum}")
    return got["seconds"], got["ndcg"]


def summary(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="42,1,2,3,4,5,6,7,8,9")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "online_retail.csv.gz"),
                    help="the Online Retail CSV (item names and prices; the split unless --train/--test)")
    ap.add_argument("--train", help="train split, headerless user<TAB>item lines (with --test)")
    ap.add_argument("--test", help="test split, in the same ids as --train")
    ap.add_argument("--work", default="/tmp/lightfm-features-study", help="folder for intermediate files")
    ap.add_argument("--identity-too", action="store_true",
                    help="also train both systems with identity features only (--no-item-features)")
    ap.add_argument("--no-build", action="store_true", help="use target/release as it is")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "lightfm-features-online-retail.md"))
    args = ap.parse_args()
    if bool(args.train) != bool(args.test):
        raise SystemExit("--train and --test go together")
    seeds = [int(s) for s in args.seeds.split(",")]
    if len(seeds) < 2:
        raise SystemExit("--seeds: give at least two seeds")
    if not os.path.exists(args.data):
        raise SystemExit(f"{args.data} not found: the Online Retail CSV ships with the repository "
                         "(data/online_retail.csv.gz); pass --data PATH")
    ensure_python()
    import numpy as np
    import scipy.sparse as sp

    if not args.no_build:
        for extra in (["-p", "reco-server"], ["-p", "reco-core", "--example", "lightfm_split"]):
            subprocess.run(["cargo", "build", "--release", "-q", *extra], cwd=ROOT, check=True)
    os.makedirs(args.work, exist_ok=True)

    # Split.
    if args.train:
        train_pairs, test_pairs = read_pairs(args.train), read_pairs(args.test)
        train_tsv, test_tsv = os.path.abspath(args.train), os.path.abspath(args.test)
        split_desc = f"--train {args.train} --test {args.test}"
    else:
        train_pairs, test_pairs = reference_split(args.data)
        train_tsv, test_tsv = (os.path.join(args.work, f"onlineretail-{p}.tsv") for p in ("train", "test"))
        write_pairs(train_tsv, train_pairs)
        write_pairs(test_tsv, test_pairs)
        split_desc = "the reference split (Online Retail, per-user random 80/20, seed 42)"
    users = sorted_ids(u for u, _ in train_pairs + test_pairs)
    items = sorted_ids(i for _, i in train_pairs + test_pairs)
    upos = {u: n for n, u in enumerate(users)}
    ipos = {i: n for n, i in enumerate(items)}

    def matrix(pairs):
        rows = np.array([upos[u] for u, _ in pairs]), np.array([ipos[i] for _, i in pairs])
        m = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), rows), shape=(len(users), len(items)))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m
    train, test = matrix(train_pairs), matrix(test_pairs)

    # Features: reco's matrix, rows of the split's items, unused columns dropped.
    catalog, catalog_ids, feature_names = reco_item_features(args.data, args.work)
    row_of = {i: r for r, i in enumerate(catalog_ids)}
    # reco ingest drops non-product codes (postage, bank charges, manual adjustments); the split
    # keeps them: such an item gets its identity feature alone (weight 1).
    missing = [i for i in items if i not in row_of]
    n_cat = catalog.shape[1]
    extra = sp.csr_matrix((np.ones(len(missing), dtype=np.float32),
                           (np.arange(len(missing)), n_cat + np.arange(len(missing)))),
                          shape=(len(missing), n_cat + len(missing)))
    catalog = sp.vstack([sp.hstack([catalog, sp.csr_matrix((catalog.shape[0], len(missing)))]), extra]).tocsr()
    feature_names = feature_names + [f"item:{i}" for i in missing]
    row_of.update({i: len(catalog_ids) + n for n, i in enumerate(missing)})
    sub = catalog[[row_of[i] for i in items]]
    used = np.unique(sub.indices)
    features = sub[:, used].tocsr().astype(np.float32)
    features.sort_indices()
    names = [feature_names[c] for c in used]
    features_tsv = os.path.join(args.work, "item-features.tsv")
    with open(features_tsv, "w") as f:
        for r in range(features.shape[0]):
            for c, v in zip(features.indices[features.indptr[r]:features.indptr[r + 1]],
                            features.data[features.indptr[r]:features.indptr[r + 1]]):
                f.write(f"{items[r]}\t{names[c]}\t{f32_text(v)}\n")
    # Read the file back as reco's example parses it (columns in order of first appearance), so
    # LightFM trains on exactly the values and layout reco does.
    col, rows, cols, vals = {}, [], [], []
    with open(features_tsv) as f:
        for line in f:
            i, name, w = line.rstrip("\n").split("\t")
            rows.append(ipos[i])
            cols.append(col.setdefault(name, len(col)))
            vals.append(np.float32(w))
    F = sp.csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)), shape=features.shape)
    F.sort_indices()
    original = {(r, names[c], v) for r, c, v in zip(*sp.find(features))}
    names = sorted(col, key=col.get)
    assert original == {(r, names[c], v) for r, c, v in zip(*sp.find(F))}, "features file does not read back"
    row_sums = np.asarray(F.sum(axis=1)).ravel()
    n_words = sum(n.startswith("word:") for n in names)
    n_prices = sum(n.startswith("price:") for n in names)
    feat_desc = (f"{F.shape[0]:,} items × {F.shape[1]:,} features ({F.shape[0]:,} identity, {n_words:,} words, "
                 f"{n_prices} price bands), {F.nnz:,} non-zeros ({F.nnz / F.shape[0]:.2f} per item), "
                 f"row sums {row_sums.min():.6f}..{row_sums.max():.6f}; {len(missing)} items reco ingest leaves out "
                 f"({', '.join(missing)}) have their identity feature only")
    print(f"split: {len(users):,} users, {len(items):,} items, {train.nnz:,} train, {test.nnz:,} test",
          file=sys.stderr)
    print(f"features: {feat_desc}", file=sys.stderr)
    expect = checksum(F)

    configs = [("features", F, features_tsv)]
    if args.identity_too:
        configs.append(("identity", None, None))
    results = {}
    for name, feats, tsv in configs:
        ref, ours = [], []
        for n, seed in enumerate(seeds):
            order = ("lightfm", "reco") if n % 2 == 0 else ("reco", "lightfm")
            for system in order:
                if system == "lightfm":
                    ref.append(lightfm_run(train, test, feats, seed, args.threads))
                else:
                    ours.append(reco_run(train_tsv, test_tsv, tsv, seed, args.threads, expect))
            print(f"{name} seed {seed}: LightFM {ref[-1][0]:.2f} s ndcg {ref[-1][1]:.4f}; "
                  f"reco {ours[-1][0]:.2f} s ndcg {ours[-1][1]:.4f}; ratio {ours[-1][0] / ref[-1][0]:.3f}",
                  file=sys.stderr, flush=True)
        results[name] = (ref, ours)

    lines = ["# LightFM with item features: reco vs LightFM 1.17 (Online Retail, one sitting)", "",
             f"`python3 scripts/lightfm_features_study.py --seeds {args.seeds} --threads {args.threads}"
             f"{' --identity-too' if args.identity_too else ''}`", "",
             f"- split: {split_desc}; {len(users):,} users × {len(items):,} items, {train.nnz:,} train / "
             f"{test.nnz:,} test interactions;",
             f"- item features (reco's, `reco train --model lightfm` default; the same file for both): {feat_desc};",
             "- both: WARP, 64 factors, adagrad, learning rate 0.05, 30 epochs, max_sampled 10, "
             f"item/user alpha 0, {args.threads} threads; identity user features;",
             "- train s = wall time of the fit call alone; NDCG@10 with train items excluded, over users "
             "with a test item; systems alternate order from seed to seed.", ""]
    for name, (ref, ours) in results.items():
        title = {"features": "identity + words + price band (reco's default)",
                 "identity": "identity features only (`--no-item-features`)"}[name]
        lines += [f"## Item features: {title}", "",
                  "| seed | LightFM s | reco s | reco / LightFM | LightFM NDCG@10 | reco NDCG@10 |",
                  "|---:|---:|---:|---:|---:|---:|"]
        for seed, (rs, rn), (os_, on) in zip(seeds, ref, ours):
            lines.append(f"| {seed} | {rs:.2f} | {os_:.2f} | {os_ / rs:.3f} | {rn:.4f} | {on:.4f} |")
        ratios = [o[0] / r[0] for r, o in zip(ref, ours)]
        (rt, rts), (ot, ots) = summary([r[0] for r in ref]), summary([o[0] for o in ours])
        (rq, rqs), (oq, oqs) = summary([r[1] for r in ref]), summary([o[1] for o in ours])
        d, lo, hi = welch([o[1] for o in ours], [r[1] for r in ref])
        lines += ["", "| system | train s mean | sd | NDCG@10 mean | sd |", "|---|---:|---:|---:|---:|",
                  f"| LightFM 1.17 | {rt:.2f} | {rts:.2f} | {rq:.4f} | {rqs:.4f} |",
                  f"| reco | {ot:.2f} | {ots:.2f} | {oq:.4f} | {oqs:.4f} |", "",
                  f"reco / LightFM train time: median of the per-seed ratios {statistics.median(ratios):.3f} "
                  f"(range {min(ratios):.3f} .. {max(ratios):.3f}); ratio of the means {ot / rt:.3f}.  ",
                  f"NDCG@10 reco − LightFM: {d:+.4f} (95% interval {lo:+.4f} .. {hi:+.4f}, Welch).", ""]
    text = "\n".join(lines)
    print(text)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
