"""The tray's list of community pools names each pool's owner by display name, never email."""

from __future__ import annotations

from kalavai_like.gui.join import JoinDialog
from tests.support.platform_api import Api
from tests.support.tray_states import HW


def test_join_list_shows_owners_display_names(tmp_path, make_ctx, qtbot, local_platform):
    api = Api(local_platform.url)
    email = "lena@lab.example"
    r = api.http.post(
        "/api/v1/accounts",
        json={"email": email, "password": "correct horse", "display_name": "Lab Lena"},
    )
    assert r.status_code == 201, r.text
    owner = api.log_in(email, "correct horse")
    pool = api.pool(owner, public=True)
    me = api.user()
    ctx = make_ctx(tmp_path / "home", f'keystore = "file"\n\n[platform]\nurl = "{api.url}"\n')
    ctx.do_login(api.url, me.email, me.password)
    dlg = JoinDialog(ctx, HW)
    qtbot.addWidget(dlg)

    def row_of_pool() -> int | None:
        for row in range(dlg.pools.rowCount()):
            item = dlg.pools.item(row, 0)
            if item is not None and item.text() == pool["name"]:
                return row
        return None

    qtbot.waitUntil(lambda: row_of_pool() is not None, timeout=20000)
    row = row_of_pool()
    assert dlg.pools.item(row, 1).text() == "Lab Lena"
    cells = [dlg.pools.item(r, c).text() for r in range(dlg.pools.rowCount()) for c in range(4)]
    assert not any("@" in text for text in cells)
