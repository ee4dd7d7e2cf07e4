#!/usr/bin/env python3
"""Compares reco's answers over HTTP with Spark's own recommendations, for every user.

    python3 scripts/spark/compare.py SPARK_RECS.jsonl http://127.0.0.1:PORT/recommend/als [-n 10]

SPARK_RECS.jsonl is written by spark_recommend.py. For each user, Spark's list minus the
user's items, first n, must equal reco's /recommend answer: same items in the same order,
scores within --tolerance. Items whose Spark scores are exactly tied (|Δ| ≤ 1e-6, e.g. two
items bought by the same single customer, whose factors are identical) may come in either
order; such cases are counted and reported. Exit status 1 on any difference.
"""
import argparse
import json
import sys
import urllib.parse
import urllib.request


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spark_recs")
    p.add_argument("url", help="base URL of reco's user endpoint, e.g. http://127.0.0.1:8000/recommend/als")
    p.add_argument("-n", type=int, default=10)
    p.add_argument("--tolerance", type=float, default=1e-4)
    args = p.parse_args(argv)
    users = mismatches = tie_swaps = 0
    max_diff = 0.0
    for line in open(args.spark_recs):
        v = json.loads(line)
        seen = set(v["seen"])
        spark = [(i, s) for i, s in zip(v["items"], v["scores"]) if i not in seen]
        url = f"{args.url}/{urllib.parse.quote(v['user'], safe='')}?n={args.n}"
        with urllib.request.urlopen(url) as r:
            ours = [(x["item_id"], x["score"]) for x in json.load(r)]
        users += 1
        want = spark[: args.n]
        ok = len(ours) == len(want)
        swapped = False
        for k, (item, score) in enumerate(ours if ok else []):
            s_item, s_score = want[k]
            max_diff = max(max_diff, abs(score - s_score))
            if abs(score - s_score) > args.tolerance:
                ok = False
            elif item != s_item:
                # Allowed only inside a group of exactly tied Spark scores.
                tied = {i for i, s in spark if abs(s - s_score) <= 1e-6}
                if item in tied and s_item in tied:
                    swapped = True
                else:
                    ok = False
        tie_swaps += swapped
        if not ok:
            mismatches += 1
            if mismatches <= 5:
                print(f"user {v['user']}: reco {ours}\n  spark {want}", file=sys.stderr)
    print(
        f"compared {users} users: {users - mismatches} equal to Spark's top-{args.n} "
        f"({tie_swaps} with exactly tied items in another order), {mismatches} different; "
        f"max score difference {max_diff:.3e}"
    )
    return 1 if mismatches or users == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
