#!/usr/bin/env python3
"""Bounded resilience checks of the `reco` binary, run by the test command (scripts/test.sh).

Replays what a hostile user or a bad day does to reco and prints what it tried and what held:

1. model-file bit flips: N seeded single-bit flips of a real ALS file (header, the seen-items
   CSR offsets, anywhere); `reco recommend` on each must answer or refuse with an error, never
   panic; a flipped file pushed through `POST /admin/reload` must be refused with a short JSON
   reason (file name, no absolute path) while the old model keeps answering;
2. hostile sockets: `reco serve` under a low open-file limit (`ulimit -n 256`), 300 silent,
   half-sent and idle-after-one-request connections held open, while real requests keep
   answering within their timeout;
3. hot reloads under load: client threads request recommendations while the model files are
   replaced and reloaded; 0 failed requests allowed;
4. `kill -9` of ingest, train and export at seeded random moments: the previous outputs stay
   intact (bit-identical, or a complete new set that loads), and no temporary file is left after
   the next successful run.

Everything runs in a temporary folder; the repository's data and models are only read.

    scripts/resilience.py [--reco target/release/reco] [--flips 300] [--kills 6]

Needs: python3 (standard library only), a built `reco` (scripts/run.sh or
`cargo build --release -p reco-server`), and the bundled data (data/online_retail.csv.gz).
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS: list[tuple[str, bool, str]] = []


def say(msg: str) -> None:
    print(msg, flush=True)


def record(name: str, ok: bool, detail: str) -> None:
    RESULTS.append((name, ok, detail))
    say(f"  {'held' if ok else 'FAILED'}: {name} — {detail}")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hashes(paths: list[Path]) -> dict[str, str]:
    out = {}
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file():
                    out[str(f)] = sha(f)
        elif p.is_file():
            out[str(p)] = sha(p)
    return out


def temp_leftovers(paths: list[Path]) -> list[str]:
    found = []
    for p in paths:
        d = p if p.is_dir() else p.parent
        if d.exists():
            found += [str(f) for f in d.rglob("*") if f.name.endswith(".tmp") or ".tmp." in f.name]
    return found


# ---------------------------------------------------------------------------------------------
# A server under test


class Server:
    def __init__(self, reco: str, models: Path, args: list[str], nofile: int | None = None):
        self.port = free_port()
        self.log = open(models.parent / f"serve-{self.port}.log", "w")

        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [reco, "serve", "--models", str(models), "--port", str(self.port), *args],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=limit,
            env={**os.environ, "NO_COLOR": "1"},
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if self.get("/")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"reco serve exited at start-up; see {self.log.name}")
            time.sleep(0.05)
        raise SystemExit(f"reco serve did not answer within 30 s; see {self.log.name}")

    def request(self, method: str, path: str, body: bytes | None = None, headers=None, timeout=5.0):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def get(self, path: str, timeout=5.0):
        return self.request("GET", path, timeout=timeout)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# ---------------------------------------------------------------------------------------------
# 1. bit flips


def tensor_ranges(data: bytes) -> dict[str, tuple[int, int]]:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    return {
        k: (base + v["data_offsets"][0], base + v["data_offsets"][1])
        for k, v in header.items()
        if k != "__metadata__"
    } | {"<header>": (0, base)}


def check_bitflips(reco: str, work: Path, model: Path, user: str, flips: int, rng: random.Random):
    say(f"\n[1] {flips} single-bit flips of {model.name} ({model.stat().st_size:,} bytes)")
    data = model.read_bytes()
    ranges = tensor_ranges(data)
    regions = [ranges["<header>"]] + [r for k, r in ranges.items() if k.endswith("indptr")]
    regions.append((0, len(data)))
    flipped = work / "flipped.safetensors"
    loaded = refused = panicked = 0
    examples = []
    for i in range(flips):
        lo, hi = regions[i % len(regions)]
        pos = rng.randrange(lo, hi)
        bit = rng.randrange(8)
        b = bytearray(data)
        b[pos] ^= 1 << bit
        flipped.write_bytes(b)
        r = run([reco, "recommend", "--model", str(flipped), "--user", user, "-n", "5"], timeout=60)
        if r.returncode == 0:
            loaded += 1
        elif r.returncode == 101 or "panicked" in r.stderr:
            panicked += 1
            if len(examples) < 3:
                examples.append(f"byte {pos} bit {bit}: {r.stderr.strip()[:200]}")
        else:
            refused += 1
    record(
        "bit flips",
        panicked == 0,
        f"{flips} flips: {loaded} still loaded, {refused} refused with an error, {panicked} panics"
        + ("; " + " | ".join(examples) if examples else ""),
    )

    # The same through a live reload: refused with a short reason, the old model keeps serving.
    models = work / "reload-models"
    models.mkdir()
    shutil.copy(model, models / "als.safetensors")
    srv = Server(reco, models, ["--admin-token", "secret"])
    try:
        before = srv.get(f"/recommend/als/{user}?n=5")
        leaks = bad = 0
        tried = 0
        for _ in range(20):
            lo, hi = regions[rng.randrange(len(regions) - 1)]  # header or offsets: mostly refused
            b = bytearray(data)
            b[rng.randrange(lo, hi)] ^= 1 << rng.randrange(8)
            (models / "als.safetensors.new").write_bytes(b)
            os.replace(models / "als.safetensors.new", models / "als.safetensors")
            status, body = srv.request("POST", "/admin/reload", headers={"Authorization": "Bearer secret"})
            tried += 1
            text = body.decode("utf-8", "replace")
            if status != 200:
                if str(work) in text or "panicked" in text:
                    leaks += 1
                try:
                    json.loads(text)["error"]
                except Exception:
                    bad += 1
            after = srv.get(f"/recommend/als/{user}?n=5")
            if after[0] != 200:
                bad += 1
        record(
            "reload of flipped files",
            leaks == 0 and bad == 0 and before[0] == 200,
            f"{tried} reloads of flipped files: {leaks} answers leaked a path or panic text, "
            f"{bad} non-JSON errors or failed requests afterwards",
        )
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------------------
# 2. hostile sockets


def open_hostile(port: int, n: int) -> tuple[list[socket.socket], int]:
    held, failed = [], 0
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            failed += 1
            continue
        kind = i % 3
        try:
            if kind == 1:  # half a request head, never finished
                s.sendall(b"GET /recommend/als/1 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            elif kind == 2:  # one request, then idle on the kept-alive connection
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                s.recv(65536)
        except OSError:
            pass
        held.append(s)
    return held, failed


def check_sockets(reco: str, work: Path, model: Path, user: str):
    say("\n[2] 300 silent / half-sent / idle connections against `reco serve` under ulimit -n 256")
    models = work / "socket-models"
    models.mkdir()
    shutil.copy(model, models / "als.safetensors")
    srv = Server(reco, models, [], nofile=256)
    held = []
    try:
        held, failed = open_hostile(srv.port, 300)
        ok = slow = errors = 0
        worst = 0.0
        t_end = time.time() + 8
        while time.time() < t_end:
            t = time.time()
            try:
                status, _ = srv.get(f"/recommend/als/{user}?n=10", timeout=5)
                ok += status == 200
                errors += status != 200
            except OSError:
                errors += 1
            dt = time.time() - t
            worst = max(worst, dt)
            slow += dt > 1.0
            # a fresh wave of hostile sockets while real clients keep asking
            if len(held) < 600:
                more, f2 = open_hostile(srv.port, 25)
                held += more
                failed += f2
        record(
            "hostile sockets",
            errors == 0 and ok > 0,
            f"{len(held)} hostile sockets opened ({failed} refused), {ok} real requests answered, "
            f"{errors} failed, slowest {worst * 1000:.0f} ms, {slow} over 1 s",
        )
    finally:
        for s in held:
            s.close()
        srv.stop()


# ---------------------------------------------------------------------------------------------
# 3. hot reload under load


def check_reload(reco: str, work: Path, models_src: list[Path], user: str, reloads: int):
    say(f"\n[3] {reloads} hot reloads under load (4 client threads, keep-alive)")
    models = work / "load-models"
    models.mkdir()
    for m in models_src:
        shutil.copy(m, models / m.name)
    srv = Server(reco, models, ["--admin-token", "secret", "--cache-top", "0"])
    stop = threading.Event()
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    failures = []

    def client():
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        ok = bad = 0
        while not stop.is_set():
            try:
                c.request("GET", f"/recommend/als/{user}?n=10")
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    ok += 1
                else:
                    bad += 1
                    failures.append(r.status)
            except Exception as e:  # noqa: BLE001 - a failed request is what we count
                bad += 1
                failures.append(repr(e))
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        with lock:
            counts["ok"] += ok
            counts["failed"] += bad

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    done = 0
    try:
        for i in range(reloads):
            time.sleep(0.4)
            src = models_src[i % len(models_src)]
            shutil.copy(src, models / "als.safetensors.incoming")
            os.replace(models / "als.safetensors.incoming", models / "als.safetensors")
            status, body = srv.request(
                "POST", "/admin/reload", headers={"Authorization": "Bearer secret"}, timeout=30
            )
            done += status == 200
        time.sleep(0.4)
    finally:
        stop.set()
        for t in threads:
            t.join()
        srv.stop()
    record(
        "reload under load",
        counts["failed"] == 0 and done == reloads,
        f"{done}/{reloads} reloads succeeded; {counts['ok']:,} requests answered, "
        f"{counts['failed']} failed" + (f" (first: {failures[:3]})" if failures else ""),
    )


# ---------------------------------------------------------------------------------------------
# 4. kill -9


def kill_trials(name: str, cmd: list[str], outputs: list[Path], verify, kills: int, rng, typical: float):
    before = tree_hashes(outputs)
    intact = changed_ok = broken = 0
    notes = []
    for _ in range(kills):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.0) * typical)  # mostly while it writes
        p.send_signal(signal.SIGKILL)
        p.wait()
        now = tree_hashes(outputs)
        if now == before:
            intact += 1
        else:
            problem = verify()
            if problem is None:
                changed_ok += 1
                before = now
            else:
                broken += 1
                notes.append(problem)
    # the next successful run cleans up after the killed ones
    r = run(cmd, timeout=600)
    left = temp_leftovers(outputs)
    ok = broken == 0 and r.returncode == 0 and not left
    record(
        f"kill -9 {name}",
        ok,
        f"{kills} kills: {intact} left the old outputs bit-identical, {changed_ok} a complete "
        f"new set, {broken} a broken set; next run exit {r.returncode}, "
        f"{len(left)} temp files left" + (f" ({notes[:2]})" if notes else "") + (f" {left[:3]}" if left else ""),
    )


def check_kills(reco: str, work: Path, kills: int, rng: random.Random):
    say(f"\n[4] kill -9 of ingest, train and export at random moments ({kills} each)")
    data = work / "kill"
    data.mkdir()
    inter, feats, models = data / "processed" / "interactions.tsv", data / "features", data / "models"
    ingest = [reco, "ingest", str(ROOT / "data" / "online_retail.csv.gz"),
              "--interactions", str(inter), "--features", str(feats)]
    t = time.time()
    r = run(ingest, timeout=600)
    if r.returncode != 0:
        record("kill -9 setup", False, f"ingest failed: {r.stderr[-400:]}")
        return
    t_ingest = time.time() - t

    def features_load():
        r = run([reco, "train", "--model", "popularity", "--features", str(feats),
                 "--out", str(data / "check.safetensors")], timeout=600)
        return None if r.returncode == 0 else r.stderr.strip()[-300:]

    kill_trials("ingest", ingest, [inter.parent, feats], features_load, kills, rng, t_ingest)

    model = models / "lightfm.safetensors"
    train = [reco, "train", "--model", "lightfm", "--features", str(feats), "--out", str(model),
             "--epochs", "10"]
    models.mkdir(exist_ok=True)
    t = time.time()
    r = run(train, timeout=600)
    t_train = time.time() - t

    def model_loads(path=model):
        r = run([reco, "recommend", "--model", str(path), "--user", "17850", "-n", "3"], timeout=60)
        return None if r.returncode == 0 else r.stderr.strip()[-300:]

    kill_trials("train", train, [models], model_loads, kills, rng, t_train)

    exported = data / "export" / "lightfm.safetensors"
    exported.parent.mkdir()
    export = [reco, "export", "--model", str(model), "--out", str(exported), "--precision", "f16"]
    t = time.time()
    run(export, timeout=600)
    t_export = time.time() - t
    kill_trials("export", export, [exported.parent], lambda: model_loads(exported), kills, rng,
                max(t_export, 0.05))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reco", default=str(ROOT / "target" / "release" / "reco"))
    ap.add_argument("--flips", type=int, default=300)
    ap.add_argument("--reloads", type=int, default=12)
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    reco = args.reco
    if not Path(reco).is_file():
        sys.exit(f"no reco binary at {reco}: build it with `cargo build --release -p reco-server`")
    rng = random.Random(args.seed)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="reco-resilience-") as tmp:
        work = Path(tmp)
        say(f"reco resilience checks (seed {args.seed}) in {work}")
        # A real model: ingest the bundled data and train ALS (seconds).
        feats = work / "features"
        r = run([reco, "ingest", "--interactions", str(work / "interactions.tsv"), "--features", str(feats)], timeout=600)
        if r.returncode != 0:
            sys.exit(f"ingest of the bundled data failed:\n{r.stderr}")
        als = work / "als.safetensors"
        r = run([reco, "train", "--model", "als", "--features", str(feats), "--out", str(als)], timeout=600)
        if r.returncode != 0:
            sys.exit(f"training ALS failed:\n{r.stderr}")
        als16 = work / "als-f16.safetensors"
        run([reco, "export", "--model", str(als), "--out", str(als16), "--precision", "f16"], timeout=600)
        user = "17850"
        check_bitflips(reco, work, als, user, args.flips, rng)
        check_sockets(reco, work, als, user)
        check_reload(reco, work, [als, als16], user, args.reloads)
        check_kills(reco, work, args.kills, rng)
    failed = [n for n, ok, _ in RESULTS if not ok]
    say(f"\nresilience: {len(RESULTS) - len(failed)} of {len(RESULTS)} checks held "
        f"in {time.time() - t0:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    # TAP-style totals, summed into the test command's last line by scripts/count-tests.sh.
    say(f"# pass {len(RESULTS) - len(failed)}\n# fail {len(failed)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
