"""The tray's side of joining: pools that are not running offer no Join, and a
kalavai-like://join link (the web's "Open in app") opens the Join dialog for its pool, which
asks for a token of its own; a second launch with a link hands it to the running tray."""

from __future__ import annotations

from urllib.parse import urlencode

from kalavai_like.gui.join import JoinDialog
from tests.support.tray_states import HW

PLATFORM = "http://127.0.0.1:8700"
POOL_ID = "0123456789abcdef0123456789abcdef"
SETTINGS = f'keystore = "file"\n\n[platform]\nurl = "{PLATFORM}"\n'


def _link(platform: str = PLATFORM) -> str:
    return "kalavai-like://join?" + urlencode(
        {"platform": platform, "pool": POOL_ID, "name": "sci"}
    )


class Recording:
    """A real Context whose platform calls are recorded instead of sent."""

    def __init__(self, ctx) -> None:
        self._ctx = ctx
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def __getattr__(self, name: str):
        if name == "fetch_pools":
            return lambda: []
        if name == "fetch_token_for":
            return lambda *args: self.calls.append((name, args)) or "kl1_not_a_real_token"
        return getattr(self._ctx, name)


def test_pools_that_are_not_running_offer_no_join(tmp_path, make_ctx, qtbot):
    ctx = Recording(make_ctx(tmp_path / "home", SETTINGS))
    dlg = JoinDialog(ctx, HW)
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: ctx.bridge.pending == 0)  # its own pool list came back (empty)
    hub = {"public_key": "k", "endpoint": "198.51.100.7:51820"}
    dlg.on_pools([
        {"id": "a" * 32, "name": "idle", "template": "dask", "running": False, "hub": None},
        {"id": "b" * 32, "name": "busy", "template": "dask", "running": True, "hub": hub},
    ])  # fmt: skip
    idle, busy = dlg.pools.cellWidget(0, 4), dlg.pools.cellWidget(1, 4)
    assert idle.objectName() == "not-running-idle" and idle.text() == "Not running yet"
    assert busy.objectName() == "join-busy" and busy.text() == "Join"


def test_a_join_link_opens_join_for_its_pool_with_a_fresh_token(tmp_path, make_ctx, qtbot):
    ctx = Recording(make_ctx(tmp_path / "home", SETTINGS))
    from kalavai_like.client import links

    dlg = JoinDialog(ctx, HW, link=links.parse(_link()))
    qtbot.addWidget(dlg)
    # Both calls back (the pool list and the token), whichever comes last.
    qtbot.waitUntil(lambda: dlg.token.toPlainText() != "" and ctx.bridge.pending == 0)
    assert ctx.calls == [("fetch_token_for", (POOL_ID,))]
    assert "sci" in dlg.pools_note.text()


def test_the_tray_opens_a_link_only_for_its_platform(tmp_path, make_ctx, tray_for, monkeypatch):
    tray = tray_for(make_ctx(tmp_path / "home", SETTINGS))
    opened: list[object] = []
    monkeypatch.setattr(JoinDialog, "ask", classmethod(lambda cls, *a, **kw: opened.append(kw)))
    tray.open_join_link(_link("https://elsewhere.example"))
    tray.open_join_link("kalavai-like://join?token=kl1_secret")
    assert opened == []
    assert [n.title for n in tray.notices[-2:]] == ["Link for another platform", "Not a join link"]
    tray.open_join_link(_link())
    assert [kw["link"].pool_id for kw in opened] == [POOL_ID]


def test_a_second_launch_hands_its_link_to_the_running_tray(tmp_path, qtbot):
    from kalavai_like.gui.instance import SingleInstance

    first, second = SingleInstance(tmp_path / "run"), SingleInstance(tmp_path / "run")
    assert first.claim()
    try:
        assert not second.claim()
        with qtbot.waitSignal(first.join_requested, timeout=5000) as got:
            assert second.knock(_link())
        assert got.args == [_link()]
    finally:
        first.release()
