#!/usr/bin/env python3
"""Spark's own top-N per user for a model saved by train_als.py (to check `reco import`).

    python scripts/spark/spark_recommend.py OUT_DIR EVENTS -o recommendations.jsonl [-n 10]

Spark's recommendForAllUsers does not drop the items a user already has, reco does: so each
user gets Spark's top (n + number of the user's items), enough to still hold n after removing
them. Users are grouped by that size and each group asked with recommendForUserSubset.
Writes one JSON line per user: {"user", "items": [...], "scores": [...], "seen": [...]}
(ids are the original strings; items best first, as Spark ranked them).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_als import read_ratings, session  # noqa: E402

from pyspark.ml.recommendation import ALSModel  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="the folder train_als.py wrote")
    p.add_argument("events", help="the events train_als.py read")
    p.add_argument("-o", "--output", required=True, help="JSON lines file to write")
    p.add_argument("-n", type=int, default=10, help="recommendations wanted after removing seen items [10]")
    p.add_argument("--format", choices=["auto", "parquet", "csv"], default="auto")
    p.add_argument("--user-col", default="user_id")
    p.add_argument("--item-col", default="item_id")
    p.add_argument("--rating-col", default=None)
    p.add_argument("--master", default=None)
    p.add_argument("--conf", action="append", default=[])
    args = p.parse_args(argv)
    spark = session(args)

    model = ALSModel.load(f"{args.out}/model")
    users = spark.read.parquet(f"{args.out}/users")
    items = spark.read.parquet(f"{args.out}/items")
    n_items = items.count()
    item_id = {r["item"]: r["item_id"] for r in items.collect()}
    ratings = read_ratings(spark, args)
    seen = {
        r["user_id"]: r["seen"]
        for r in ratings.groupBy("user_id").agg(F.collect_list("item_id").alias("seen")).collect()
    }
    user_idx = {r["user_id"]: r["user"] for r in users.collect()}

    # Group users by the k they need, rounded up to a power of two (few Spark jobs).
    groups = {}
    for u, s in seen.items():
        need = min(n_items, len(s) + args.n)
        k = 16
        while k < need:
            k *= 2
        groups.setdefault(min(k, n_items), []).append(u)
    rows = {}
    for k, members in sorted(groups.items()):
        subset = spark.createDataFrame([(user_idx[u],) for u in members], ["user"])
        for r in model.recommendForUserSubset(subset, k).collect():
            rows[r["user"]] = [(x["item"], x["rating"]) for x in r["recommendations"]]
    with open(args.output, "w") as f:
        for u in sorted(seen):
            recs = rows[user_idx[u]][: min(n_items, len(seen[u]) + args.n)]
            f.write(json.dumps({
                "user": u,
                "items": [item_id[i] for i, _ in recs],
                "scores": [s for _, s in recs],
                "seen": sorted(seen[u]),
            }) + "\n")
    print(f"wrote Spark's recommendations for {len(rows)} users to {args.output}")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
