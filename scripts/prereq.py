"""What the benchmark scripts (compare_anchors.py, seed_study.py) need, checked before they start:
each missing piece is named with the command that provides it, and a failing step says what
failed and what to do, instead of a Python traceback."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SETUP_HINT = ("bench/anchors/setup.sh installs numpy, scipy, pandas, scikit-learn, implicit 0.7.3 and "
              "LightFM 1.17 with pip: it needs network access to PyPI (or PIP_INDEX_URL set to a mirror), "
              "python3-venv and a C compiler; its own output above says which package failed")


def reference_needs(venv, need_venv=True):
    """(what, how to get it) for each missing prerequisite of the reference systems."""
    missing = []
    data = os.path.join(ROOT, "data", "online_retail.csv.gz")
    if not os.path.exists(data):
        missing.append((f"the bundled data {os.path.relpath(data, ROOT)}",
                        "it is part of the repository: restore it with `git checkout -- data/online_retail.csv.gz`"))
    if need_venv and not venv_ready(venv):
        probe = subprocess.run(["python3", "-c", "import ensurepip, venv"], capture_output=True)
        if probe.returncode != 0:
            missing.append(("Python's venv module with pip (to build the reference systems' venv in "
                            f"{venv})", "apt-get install -y python3-venv"))
        if not (shutil.which("cc") or shutil.which("gcc")):
            missing.append(("a C compiler (LightFM 1.17 is compiled from source)",
                            "apt-get install -y build-essential"))
    return missing


def venv_ready(venv):
    """True when `venv` imports the reference systems (setup.sh is idempotent: it completes a
    partial venv)."""
    py = os.path.join(venv, "bin", "python")
    return os.path.exists(py) and subprocess.run(
        [py, "-c", "import implicit, lightfm, sklearn, pandas"], capture_output=True).returncode == 0


def reco_needs(reco):
    """(what, how) when the reco binary is missing and cannot be built."""
    if os.path.exists(reco) or shutil.which("cargo"):
        return []
    return [("cargo, to build reco (target/release/reco)",
             "install Rust with rustup (https://rustup.rs), then run this script again")]


def require(missing):
    """Exits with status 2 listing what is missing and how to get it; returns when nothing is."""
    if not missing:
        return
    print("cannot start: missing prerequisites", file=sys.stderr)
    for what, how in missing:
        print(f"  - {what}\n      get it: {how}", file=sys.stderr)
    sys.exit(2)


def step(cmd, what, hint=None, skip_if=False, **kw):
    """Runs `cmd` (check=True); on failure prints what failed and `hint`, and exits 1."""
    if skip_if:
        return None
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    try:
        return subprocess.run(cmd, check=True, **kw)
    except FileNotFoundError as e:
        print(f"failed: {what}: {e.filename or cmd[0]} not found", file=sys.stderr)
    except subprocess.CalledProcessError as e:
        if e.stderr:
            print(e.stderr if isinstance(e.stderr, str) else e.stderr.decode(errors="replace"), file=sys.stderr)
        print(f"failed: {what} (exit status {e.returncode})", file=sys.stderr)
    if hint:
        print(f"  {hint}", file=sys.stderr)
    sys.exit(1)


def build_reco(root):
    """Builds target/release/reco (cargo shows its progress)."""
    first = not os.path.exists(os.path.join(root, "target", "release", "reco"))
    if first:
        print("building reco: the first release build takes about 8-9 minutes on 2 cores", file=sys.stderr)
    step(["cargo", "build", "--release", "-p", "reco-server"], cwd=root,
         what="building reco (cargo build --release -p reco-server)",
         hint="cargo's message above says what failed; scripts/run.sh builds the same binary")
