"""Tray figures, offscreen: time from launch to the tray icon shown, and RSS after a minute.

    python bench/tray.py [--runs 5] [--settle 60]

Each run starts `python -m kalavai_like.gui --home TMP` (a fresh process, so interpreter and
Qt start-up count), next to a real idle agent in the same home when this machine can run one.
Targets: <= 1.5 s to the icon, <= 150 MB RSS after one minute.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from tests.support.processes import stop  # noqa: E402


def start_agent(home: Path) -> int | None:
    from kalavai_like.client.local import start_background
    from kalavai_like.errors import KalavaiError
    from kalavai_like.home.paths import under

    try:
        return start_background(under(home), str(home))
    except KalavaiError as exc:
        print(f"(no agent: {exc.title}; timing the tray alone)")
        return None


def launch(home: Path) -> tuple[subprocess.Popen[str], float]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KALAVAI_LIKE_TRAY_READY": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kalavai_like.gui", "--home", str(home)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    if line.strip() != "ready":
        proc.kill()
        raise SystemExit(f"the tray did not come up (said {line!r})")
    return proc, elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settle", type=float, default=60.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kl-bench-tray-"))
    home = tmp / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.toml").write_text('keystore = "file"\n[network]\nprefix = "kgb"\n')
    agent = start_agent(home)
    try:
        times = []
        for _ in range(args.runs):
            proc, elapsed = launch(home)
            times.append(elapsed)
            stop(proc)
        print(f"launch to tray icon shown: median {statistics.median(times):.2f} s, "
              f"min {min(times):.2f} s, max {max(times):.2f} s over {len(times)} runs "
              "(target <= 1.5 s)")  # fmt: skip
        proc, _ = launch(home)
        time.sleep(args.settle)
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
        stop(proc)
        print(f"RSS after {args.settle:.0f} s: {rss:.0f} MB (target <= 150 MB)"
              + ("" if agent else ", no agent"))  # fmt: skip
    finally:
        if agent is not None:
            os.kill(agent, signal.SIGTERM)
            psutil.wait_procs([psutil.Process(agent)], timeout=20) if psutil.pid_exists(
                agent
            ) else None
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
