"""The desktop entry opens kalavai-like://join links (the web's "Open in app") in the tray,
which takes the link as its argument."""

from __future__ import annotations

import configparser

from kalavai_like.gui.app import parse_args
from tests.support import REPO


def test_the_desktop_entry_registers_the_join_link_scheme() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(REPO / "packaging" / "desktop" / "kalavai-like-tray.desktop")
    desktop = entry["Desktop Entry"]
    assert "x-scheme-handler/kalavai-like" in desktop["MimeType"].split(";")
    assert desktop["Exec"].split()[-1] == "%u"  # the link is handed to the tray
    link = "kalavai-like://join?platform=https%3A%2F%2Fp.example&pool=" + "0" * 32
    assert parse_args(["--window", link]).url == link
    assert parse_args(["--window"]).url is None
