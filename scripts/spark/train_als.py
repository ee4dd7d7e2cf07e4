#!/usr/bin/env python3
"""Train implicit ALS on Spark MLlib and save the model with Spark's own writer.

    spark-submit scripts/spark/train_als.py EVENTS OUT_DIR [--rank 64 --reg-param 0.05 ...]

EVENTS is a Parquet file/folder or a CSV/TSV file (header line) with string user and item
ids and, optionally, a rating/weight column (else each row counts 1). Rows of the same
(user, item) pair are summed — ALS wants one rating per pair. String ids are mapped to the
integers Spark's ALS needs with StringIndexer.

OUT_DIR receives:
  model/   ALSModel.save(): metadata/ (JSON), userFactors/ and itemFactors/ (Parquet)
  users/   Parquet: user_id (string), user (int) — the index used in model/
  items/   Parquet: item_id (string), item (int)
  als/     ALS.save(): the estimator and its hyperparameters (regParam, alpha, ...), which
           ALSModel's own metadata does not record

Nothing here is specific to reco: `reco import spark-als OUT_DIR --events EVENTS` reads these
folders as they are.
"""
import argparse
import sys

from pyspark.ml.feature import StringIndexer
from pyspark.ml.recommendation import ALS
from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("events", help="events: Parquet (file or folder) or CSV/TSV with a header")
    p.add_argument("out", help="output folder (model/, users/, items/); overwritten")
    p.add_argument("--format", choices=["auto", "parquet", "csv"], default="auto",
                   help="input format [auto: parquet unless the name ends in .csv/.tsv(.gz)]")
    p.add_argument("--user-col", default="user_id", help="user id column [user_id]")
    p.add_argument("--item-col", default="item_id", help="item id column [item_id]")
    p.add_argument("--rating-col", default=None,
                   help="rating/weight column, summed per (user, item) [default: 'weight' or "
                        "'rating' if present, else 1 per row]")
    p.add_argument("--rank", type=int, default=64, help="latent factors [64]")
    p.add_argument("--reg-param", type=float, default=0.05,
                   help="regParam λ (Spark scales it by each row's number of ratings) [0.05]")
    p.add_argument("--alpha", type=float, default=1.0, help="confidence c = 1 + alpha·r [1.0]")
    p.add_argument("--max-iter", type=int, default=15, help="iterations [15]")
    p.add_argument("--seed", type=int, default=42, help="random seed [42]")
    p.add_argument("--num-blocks", type=int, default=None,
                   help="user and item blocks (parallelism) [Spark's default, 10]")
    p.add_argument("--nonnegative", action="store_true", help="non-negative factors (NNLS solver)")
    p.add_argument("--master", default=None, help="Spark master when not run by spark-submit (e.g. local[2])")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="Spark configuration when not run by spark-submit (repeatable), "
                        "e.g. spark.sql.shuffle.partitions=8")
    return p.parse_args(argv)


def read_events(spark, args):
    fmt = args.format
    path = args.events
    if fmt == "auto":
        lower = path.lower()
        fmt = "csv" if lower.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")) else "parquet"
    if fmt == "parquet":
        return spark.read.parquet(path)
    sep = "\t" if ".tsv" in path.lower() else ","
    # Ids stay strings (no schema inference); the rating column is cast below.
    return spark.read.option("header", True).option("sep", sep).csv(path)


def session(args):
    builder = SparkSession.builder.appName("train_als")
    if args.master:
        builder = builder.master(args.master)
    for kv in args.conf:
        key, sep, value = kv.partition("=")
        if not sep:
            sys.exit(f"error: --conf {kv!r} is not KEY=VALUE")
        builder = builder.config(key, value)
    return builder.getOrCreate()


def read_ratings(spark, args):
    """One (user_id, item_id, rating) row per pair: the events' ratings summed."""
    events = read_events(spark, args)
    for col in (args.user_col, args.item_col):
        if col not in events.columns:
            sys.exit(f"error: events have no column {col!r} (columns: {events.columns}); use --user-col/--item-col")
    rating_col = args.rating_col
    if rating_col is None:
        rating_col = next((c for c in ("weight", "rating") if c in events.columns), None)
    elif rating_col not in events.columns:
        sys.exit(f"error: events have no column {rating_col!r} (columns: {events.columns})")
    rating = F.col(rating_col).cast("float") if rating_col else F.lit(1.0).cast("float")

    ratings = (
        events.select(
            F.col(args.user_col).cast("string").alias("user_id"),
            F.col(args.item_col).cast("string").alias("item_id"),
            rating.alias("rating"),
        )
        .where(F.col("user_id").isNotNull() & F.col("item_id").isNotNull() & F.col("rating").isNotNull())
        .groupBy("user_id", "item_id")
        .agg(F.sum("rating").cast("float").alias("rating"))
    )
    return ratings


def main(argv):
    args = parse_args(argv)
    spark = session(args)
    ratings = read_ratings(spark, args)

    indexers = [
        StringIndexer(inputCol="user_id", outputCol="user_idx", stringOrderType="alphabetAsc"),
        StringIndexer(inputCol="item_id", outputCol="item_idx", stringOrderType="alphabetAsc"),
    ]
    indexed = ratings
    for ix in indexers:
        indexed = ix.fit(indexed).transform(indexed)
    indexed = indexed.select(
        "user_id", "item_id",
        F.col("user_idx").cast("int").alias("user"),
        F.col("item_idx").cast("int").alias("item"),
        "rating",
    ).cache()

    als = ALS(
        rank=args.rank,
        regParam=args.reg_param,
        alpha=args.alpha,
        maxIter=args.max_iter,
        seed=args.seed,
        implicitPrefs=True,
        nonnegative=args.nonnegative,
        userCol="user",
        itemCol="item",
        ratingCol="rating",
    )
    if args.num_blocks:
        als = als.setNumUserBlocks(args.num_blocks).setNumItemBlocks(args.num_blocks)
    model = als.fit(indexed)

    model.write().overwrite().save(f"{args.out}/model")
    als.write().overwrite().save(f"{args.out}/als")
    indexed.select("user_id", "user").distinct().orderBy("user").write.mode("overwrite").parquet(f"{args.out}/users")
    indexed.select("item_id", "item").distinct().orderBy("item").write.mode("overwrite").parquet(f"{args.out}/items")
    print(
        f"trained ALS rank {args.rank} on {indexed.count()} (user, item) pairs "
        f"({model.userFactors.count()} users, {model.itemFactors.count()} items) -> {args.out}"
    )
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
