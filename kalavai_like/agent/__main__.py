"""`python -m kalavai_like.agent [--home DIR] [--prefix P]`: the agent without the CLI's
libraries loaded (`kalavai-like agent` execs this), so the daemon stays small."""

from __future__ import annotations

import argparse
import sys

from kalavai_like.errors import KalavaiError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kalavai-like agent", description=__doc__)
    ap.add_argument("--home", help="Instance home (default: KALAVAI_LIKE_HOME or the OS's).")
    ap.add_argument("--prefix", help="Name prefix of namespaces, interfaces and containers.")
    ap.add_argument("--metrics", help="Serve Prometheus /metrics: a port (loopback) or HOST:PORT.")
    args = ap.parse_args(argv)
    from kalavai_like import paths as paths_mod
    from kalavai_like import settings as settings_mod
    from kalavai_like.agent.daemon import run_agent

    try:
        paths = paths_mod.resolve(args.home)
        settings = settings_mod.load(paths.settings_file)
        if args.metrics:  # the flag wins over `[agent] metrics` (agent/metrics_server.py)
            agent = {**(settings.extra.get("agent") or {}), "metrics": args.metrics}
            settings = settings.replace(extra={**settings.extra, "agent": agent})
        run_agent(paths, settings, **({"prefix": args.prefix} if args.prefix else {}))
    except KalavaiError as exc:
        print(f"Error: {exc.title}\n{exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
