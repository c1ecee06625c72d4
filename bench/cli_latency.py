"""Wall time of `kalavai-like --help` and `kalavai-like whoami --json` (against a local
platform on loopback), median of 20 runs each. Target: <= 250 ms.

    python bench/cli_latency.py [--runs 20] [--before DIR]

Also prints each command's median CPU time (user + system, less sensitive to a busy machine
than wall time) and two baselines: the bare interpreter and `import typer`.

`--before DIR` also times another checkout of the project (e.g. `git worktree add DIR REV`),
run by this interpreter as `python -m kalavai_like`, in turn with this tree run the same way,
so a before/after comparison shares one machine state.
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
        w, c = once(argv, env)
        wall.append(w)
        cpu.append(c)
    return wall, cpu


def once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU time in ms of one run of `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr}")
    return wall, (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000


def paired(
    args: list[str], env: dict[str, str], trees: dict[str, Path], runs: int
) -> dict[str, tuple[list[float], list[float]]]:
    """`python -m kalavai_like ARGS` from each tree, in turn, `runs` times."""
    out: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in trees}
    for _ in range(runs):
        for name, tree in trees.items():
            w, c = once(
                [sys.executable, "-m", "kalavai_like", *args], {**env, "PYTHONPATH": str(tree)}
            )
            out[name][0].append(w)
            out[name][1].append(c)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--before", type=Path, help="another checkout to time beside this one")
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
            if args.before:
                trees = {"before": args.before.resolve(), "after": Path(__file__).parents[1]}
                for cmd in (["--help"], ["whoami", "--json"]):
                    pair = paired(["--home", str(home), *cmd], env, trees, args.runs)
                    for name, times in pair.items():
                        results[f"python -m kalavai_like {' '.join(cmd)} ({name})"] = times
    print(
        f"CLI latency, median of {args.runs} runs (target <= {TARGET_MS:.0f} ms wall), "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs:"
    )
    for name, (wall, cpu) in results.items():
        median = statistics.median(wall)
        verdict = "" if "baseline" in name else "ok" if median <= TARGET_MS else "OVER TARGET"
        print(
            f"  {name:50s} wall {median:6.1f} ms (min {min(wall):6.1f})  "
            f"cpu {statistics.median(cpu):6.1f} ms  {verdict}"
        )


if __name__ == "__main__":
    main()
