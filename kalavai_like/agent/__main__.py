"""`python -m kalavai_like.agent [--home DIR] [--prefix P] [--metrics ADDR]`: the agent without
the CLI's libraries loaded (`kalavai-like agent` execs this), so the daemon stays small."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kalavai_like.errors import KalavaiError, SystemProblem

if TYPE_CHECKING:
    from kalavai_like.home.paths import Paths
    from kalavai_like.home.settings import Settings

# Starts the agent: (paths, settings, --metrics value, overrides such as prefix).
Starter = Callable[["Paths", "Settings", "str | None", dict[str, Any]], None]


def run(prog: str, description: str | None, argv: list[str] | None, start: Starter) -> int:
    """Parse the agent's flags, load the instance, call `start`; errors print as the CLI's do."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("--home", help="Instance home (default: KALAVAI_LIKE_HOME or the OS's).")
    ap.add_argument("--prefix", help="Name prefix of namespaces, interfaces and containers.")
    ap.add_argument("--metrics", help="Serve Prometheus /metrics: a port (loopback) or HOST:PORT.")
    args = ap.parse_args(argv)
    from kalavai_like.home import paths as paths_mod
    from kalavai_like.home import settings as settings_mod

    try:
        paths = paths_mod.resolve(args.home)
        settings = settings_mod.load(paths.settings_file)
        start(paths, settings, args.metrics, {"prefix": args.prefix} if args.prefix else {})
    except OSError as exc:  # start-up or shutdown (a full disk, a directory not writable)
        problem = SystemProblem(
            "Agent cannot run",
            f"{exc.filename or 'A file'}: {exc.strerror or exc}. Free disk space or check the "
            "permissions of the home.",
        )
        print(f"Error: {problem.title}\n{problem.message}", file=sys.stderr)
        return problem.exit_code
    except KalavaiError as exc:
        print(f"Error: {exc.title}\n{exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


def _start(
    paths: Paths, settings: Settings, metrics: str | None, overrides: dict[str, Any]
) -> None:
    from kalavai_like.agent.daemon import run_agent

    if metrics:  # the flag wins over `[agent] metrics` (agent/metrics_server.py)
        agent = {**(settings.extra.get("agent") or {}), "metrics": metrics}
        settings = settings.replace(extra={**settings.extra, "agent": agent})
    run_agent(paths, settings, **overrides)


def main(argv: list[str] | None = None) -> int:
    return run("kalavai-like agent", __doc__, argv, _start)


if __name__ == "__main__":
    sys.exit(main())
