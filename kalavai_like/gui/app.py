"""`kalavai-like-tray`: builds the tray for one instance (the OS's places, or `--home DIR`)
and runs Qt's event loop. One tray per instance; a second launch shows the first's window.
Quitting the tray leaves the agent, and so the pool membership, running. Given a
kalavai-like://join link (the desktop entry registers the scheme), it opens that pool's Join
(in the tray that already runs, if one does).

With KALAVAI_LIKE_TRAY_READY=1 in the environment, the tray prints "ready" on stdout once its
icon is shown (bench/tray.py times that).
"""

from __future__ import annotations

import argparse
import os
import sys

from kalavai_like import __version__
from kalavai_like.errors import KalavaiError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="kalavai-like-tray",
        description="The kalavai-like tray: join a pool, pause, resume, see what you gave.",
    )
    p.add_argument("--home", help="Keep everything under this directory (KALAVAI_LIKE_HOME).")
    p.add_argument("--window", action="store_true", help="Also open the status window.")
    p.add_argument(
        "url", nargs="?", help="A kalavai-like://join link (the web's Open in app): its Join."
    )
    p.add_argument("--version", action="version", version=f"kalavai-like-tray {__version__}")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the tray until Quit; returns the exit code."""
    args = parse_args(argv)
    from kalavai_like.client.instance import Home

    try:
        home = Home.open(args.home)
    except KalavaiError as exc:
        print(f"kalavai-like-tray: {exc.title}. {exc.message}", file=sys.stderr)
        return exc.exit_code

    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from kalavai_like.client.local import NodeClient
    from kalavai_like.client.prefs import machine
    from kalavai_like.gui.assets import icon_path
    from kalavai_like.gui.bridge import Bridge
    from kalavai_like.gui.context import Context
    from kalavai_like.gui.instance import SingleInstance
    from kalavai_like.gui.tray import Tray

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("kalavai-like")
    app.setDesktopFileName("kalavai-like-tray")
    app.setQuitOnLastWindowClosed(False)
    app.setWindowIcon(QIcon(str(icon_path("app"))))
    instance = SingleInstance(home.paths.run)
    if not instance.claim():
        instance.knock(args.url)
        print("kalavai-like-tray already runs for this instance: showing it.", file=sys.stderr)
        return 0
    node = NodeClient.for_home(home)
    bridge = Bridge(node)
    tray = Tray(Context(home, node, bridge), machine, show_window=args.window or None)
    instance.show_requested.connect(tray.show_window)
    instance.join_requested.connect(tray.open_join_link)
    tray.start()
    if args.url:
        tray.open_join_link(args.url)
    if os.environ.get("KALAVAI_LIKE_TRAY_READY"):
        print("ready", flush=True)
    code = app.exec()
    finished = bridge.shutdown()
    instance.release()
    if not finished:  # a long agent call (a join) still runs; the agent finishes it anyway
        sys.stdout.flush()
        os._exit(code)
    return code


def run() -> None:
    sys.exit(main())
