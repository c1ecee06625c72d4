"""The Community pools page as a stranger sees it: no owner's email, a closed pool marked
closed with no Join, and a forged Join of it refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.platform_api import Api, unique
from tests.support.web import form_csrf, nav

pytestmark = pytest.mark.chromium


def test_a_closed_pool_is_marked_and_offers_no_join(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    owner = api.user()
    open_pool = api.pool(owner, public=True, name=unique("open"))
    closed = api.pool(owner, public=True, name=unique("shut"))
    r = owner.patch(f"/api/v1/pools/{closed['id']}", json={"closed": True})
    assert r.status_code == 200
    _user, page = logged_in()
    nav(page, "Community pools")

    assert owner.email not in page.content()
    row = page.get_by_role("row").filter(has_text=closed["name"])
    assert "closed" in row.inner_text() and "Closed to new members" in row.inner_text()
    assert row.get_by_role("button", name="Join").count() == 0
    assert (
        page.get_by_role("row")
        .filter(has_text=open_pool["name"])
        .get_by_role("button", name="Join")
        .is_visible()
    )

    forged = page.request.post(f"/pools/{closed['id']}/join", form={"csrf": form_csrf(page)})
    assert forged.status == 403 and "closed it to new members" in forged.text()
    assert owner.get(f"/api/v1/pools/{closed['id']}/tokens").json() == []
