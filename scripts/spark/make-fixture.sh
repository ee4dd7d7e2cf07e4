#!/usr/bin/env bash
# Regenerates server/tests/fixtures/spark-als/ with real Spark (pyspark 4.x, local[2]):
# seeded events (40 users, 30 items, string ids, some repeated rows), the model saved by
# train_als.py, Spark's own recommendations (spark_recommend.py) and an item catalog.
# Needs pyspark (and Java): PYTHON=/path/to/venv/bin/python scripts/spark/make-fixture.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
fx=server/tests/fixtures/spark-als
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" - "$tmp" <<'PY'
import random, sys
out = sys.argv[1]
r = random.Random(7)
users = [f"u{i:03d}" for i in range(40)]
items = [f"SKU-{i:02d}" for i in range(30)]
rows = []
for u in users:
    n = r.randint(3, 15)
    for it in r.sample(items[: r.choice([15, 30])], n):
        rows.append((u, it, r.choice([1, 1, 1, 2, 3])))
rows += rows[:10]  # repeated (user, item) rows: summed by the job and by reco
r.shuffle(rows)
with open(f"{out}/events.csv", "w") as f:
    f.write("user_id,item_id,weight\n")
    f.writelines("%s,%s,%d\n" % row for row in rows)
colors = ["red", "blue", "green", "white", "black"]
things = ["mug", "lantern", "candle", "bag", "card", "tin"]
with open(f"{out}/items.csv", "w") as f:
    f.write("item_id,name\n")
    f.writelines(f"{it},{colors[i % 5]} {things[i % 6]} {i}\n" for i, it in enumerate(items))
PY
conf=(--master 'local[2]' --conf spark.sql.shuffle.partitions=2 --conf spark.ui.enabled=false)
"$PYTHON" scripts/spark/train_als.py "$tmp/events.csv" "$tmp/spark" "${conf[@]}" \
  --num-blocks 2 --rank 8 --reg-param 0.1 --alpha 2.0 --max-iter 10 --seed 1
"$PYTHON" scripts/spark/spark_recommend.py "$tmp/spark" "$tmp/events.csv" "${conf[@]}" \
  -n 10 -o "$tmp/recommendations.jsonl"
rm -rf "$fx"
mkdir -p "$fx"
cp "$tmp/events.csv" "$tmp/items.csv" "$tmp/recommendations.jsonl" "$fx/"
# Spark's folders without the .crc checksums and _SUCCESS markers (not read by reco).
(cd "$tmp" && find spark -type f ! -name '.*.crc' ! -name '_SUCCESS' -print0 | xargs -0 cp --parents -t "$OLDPWD/$fx")
du -sh "$fx"
