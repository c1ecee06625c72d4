"""PyInstaller entry script of the `kalavai-like` console executable.

Parts of kalavai-like re-run themselves as `sys.executable -m MODULE ...` (the lean agent
process, starting the agent in the background). In a bundle `sys.executable` is this program,
so it plays `python -m` for our own modules, and the CLI otherwise.
"""

import runpy
import sys

MODULES = ("kalavai_like", "kalavai_like.agent", "kalavai_like.agent.headless")

if len(sys.argv) > 2 and sys.argv[1] == "-m":
    module = sys.argv[2]
    if module not in MODULES:
        sys.exit(f"kalavai-like: cannot run module {module!r} from the bundle")
    sys.argv = [sys.argv[0], *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    sys.exit(0)

from kalavai_like.cli.main import run  # noqa: E402

run()
