"""Wall time of `kalavai-like --help` and `kalavai-like whoami --json` (against a local
platform on loopback), median of 20 runs each. Target: <= 250 ms.

    python bench/cli_latency.py [--runs 20]

Also prints each command's median CPU time (user + system, less sensitive to a busy machine
than wall time) and two baselines: the bare interpreter and `import typer`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kalavai_like.platform.local import start_local_platform

TARGET_MS = 250.0


def command() -> list[str]:
    exe = Path(sys.executable).parent / "kalavai-like"
    found = str(exe) if exe.exists() else shutil.which("kalavai-like")
    return [found] if found else [sys.executable, "-m", "kalavai_like"]


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU times in ms of `runs` runs of `argv`."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        wall.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {result.stderr}")
        cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kl-bench-") as tmp:
        home = Path(tmp) / "home"
        (home / "config").mkdir(parents=True)
        (home / "config" / "settings.toml").write_text('keystore = "file"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("KALAVAI_LIKE_")}
        base = [*command(), "--home", str(home)]
        with start_local_platform(Path(tmp) / "platform") as platform:
            subprocess.run(
                [*base, "signup", "--platform", platform.url, "--email", "bench@example.org",
                 "--password-stdin"],
                input="password1\n", env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            timed([*base, "whoami", "--json"], env, 2)  # warm the page cache
            results = {
                "kalavai-like --help": timed([*base, "--help"], env, args.runs),
                "kalavai-like whoami --json": timed([*base, "whoami", "--json"], env, args.runs),
                "python -c pass (baseline)": timed([sys.executable, "-c", "pass"], env, args.runs),
                "python -c 'import typer' (baseline)": timed(
                    [sys.executable, "-c", "import typer"], env, args.runs
                ),
            }
    print(
        f"CLI latency, median of {args.runs} runs (target <= {TARGET_MS:.0f} ms wall), "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs:"
    )
    for name, (wall, cpu) in results.items():
        median = statistics.median(wall)
        verdict = "" if "baseline" in name else "ok" if median <= TARGET_MS else "OVER TARGET"
        print(
            f"  {name:38s} wall {median:6.1f} ms (min {min(wall):6.1f})  "
            f"cpu {statistics.median(cpu):6.1f} ms  {verdict}"
        )


if __name__ == "__main__":
    main()
