"""Pools created from the web (the API's own checks, their errors in words next to the field)
and the public pool page (readable without logging in; a private pool's only for its owner),
fetched as a browser does from the real platform on both databases."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import httpx
import pytest

from kalavai_like.platform.local import LocalPlatform
from tests.platform.test_operator_pages import browser, csrf
from tests.support.platform_api import Api, User, unique

ABOUT = {
    "description": "We fold proteins.\n\nEvery core helps.",
    "computes": "Protein folding with Dask",
    "run_by": "The Example Lab",
}


def anonymous(platform: LocalPlatform) -> httpx.Client:
    return httpx.Client(base_url=platform.url, headers={"Origin": platform.url}, timeout=30)


def create(page: httpx.Client, **fields: str) -> httpx.Response:
    form = {"csrf": csrf(page.get("/pools/new").text), "template": "dask", **fields}
    return page.post("/pools/new", data=form)


def field_error(text: str, field: str) -> str:
    """The words shown next to the form's `field` ('' when none)."""
    found = re.search(rf'<small class="field-error" id="{field}-error"[^>]*>([^<]*)</small>', text)
    return html.unescape(found.group(1)) if found else ""


def test_a_pool_created_on_the_web_is_the_apis_and_its_page_says_how_to_start_it(
    api: Api, platform: LocalPlatform
) -> None:
    owner = api.user()
    name = unique("web")
    with browser(platform, owner) as page:
        assert 'href="/pools/new"' in page.get("/pools").text
        r = create(page, name=name, params='{"workers": 2}', public="on", **ABOUT)
        assert r.status_code == 303, r.text
        pool = owner.get(f"/api/v1/pools/{name}").json()
        assert r.headers["location"] == f"/pools/{pool['id']}"
        assert pool["public"] is True and pool["template"] == "dask"
        assert pool["params"] == {"workers": 2} and pool["about"] == ABOUT
        shown = page.get(r.headers["location"]).text
    assert "Not running yet" in shown
    assert f"kalavai-like login --platform {platform.url}" in shown
    assert f"kalavai-like pool start {name} --endpoint SEED_ADDRESS:51820" in shown
    api.hub(owner, pool)  # what `pool start` on the seed does first
    with browser(platform, owner) as page:
        shown = page.get(f"/pools/{pool['id']}").text
    assert '<strong id="pool-state">Running</strong>' in shown and "pool start" not in shown


def test_the_form_shows_the_apis_refusals_in_words_next_to_their_field(
    api: Api, platform: LocalPlatform
) -> None:
    owner = api.user()
    taken = api.pool(owner)["name"]
    with browser(platform, owner) as page:
        r = create(page, name="-dash-first", computes="x" * 201)
        assert r.status_code == 422
        assert field_error(r.text, "name").startswith("A name is 1 to 64 letters")
        assert "at most 200 characters" in field_error(r.text, "computes")
        assert 'value="-dash-first"' in r.text  # what was typed stays
        assert "[A-Za-z" not in r.text  # never the validator's pattern
        r = create(page, name="a" * 32)  # looks like an id: the API's own words
        assert "must not look like a pool id" in field_error(r.text, "name")
        r = create(page, name=unique("ok"), params="workers: 2")
        assert r.status_code == 422
        assert field_error(r.text, "params").startswith("Parameters are a JSON object")
        long = "संगणक" * 400  # 2000 characters of three UTF-8 bytes each: an 18 KB form
        r = create(page, name=unique("long"), description=long)
        assert r.status_code == 303 and "संगणक" in page.get(r.headers["location"]).text
        r = create(page, name=unique("ok"), description="x" * 2001)
        assert "at most 2000 characters" in field_error(r.text, "description")
        r = create(page, name=taken)
        assert r.status_code == 409 and "Pool name taken" in field_error(r.text, "name")
        assert (
            page.post("/pools/new", data={"csrf": "0" * 64, "name": unique("x")}).status_code == 403
        )
    mine = owner.get("/api/v1/pools", params={"scope": "mine"}).json()
    assert len(mine) == 2 and taken in [p["name"] for p in mine]  # nothing refused was made


def test_a_refusal_of_the_whole_form_shows_above_it(tuned_platform: Callable[..., Api]) -> None:
    api = tuned_platform(max_pools_per_user=1)
    owner = api.user()
    api.pool(owner)
    with browser(api, owner) as page:
        r = create(page, name=unique("second"))
    assert r.status_code == 409 and not field_error(r.text, "name")
    alert = re.search(r'<p class="alert" role="alert">([^<]*)</p>', r.text)
    assert alert and html.unescape(alert.group(1)).startswith("Pool limit reached: You own 1")


def test_the_api_bounds_what_a_pool_says_about_itself(api: Api) -> None:
    owner = api.user()
    for about in ({"description": "x" * 2001}, {"run_by": "a\nb"}, {"computes": "nul\x00"}):
        body = {"name": unique("b"), "template": "dask", "about": about}
        assert owner.post("/api/v1/pools", json=body).status_code == 422, about
    assert api.pool(owner)["about"] == {"description": "", "computes": "", "run_by": ""}


def _public_pool(api: Api, owner: User, running: bool = False) -> dict[str, object]:
    return api.pool(owner, public=True, about=ABOUT, running=running)


def test_anyone_reads_a_public_pool_page_without_logging_in(
    api: Api, platform: LocalPlatform, platform_sql: object
) -> None:
    owner = api.user()
    pool = _public_pool(api, owner)
    with anonymous(platform) as anon:
        r = anon.get(f"/pools/{pool['name']}")
        assert r.status_code == 200
        text = html.unescape(r.text)
        facts = ["We fold proteins.", "Every core helps.", "dask", "Protein folding with Dask"]
        for words in [pool["name"], *facts, "Run by The Example Lab", "Not running yet"]:
            assert words in text, words
        assert owner.email not in r.text and "@" not in text.split("<footer")[0]
        assert 'href="/signup">Sign up to join' in r.text and "pool start" not in r.text
        assert '<strong id="pool-active">0</strong>' in r.text

        api.hub(owner, pool)
        vol = api.user()
        joined = api.join(api.as_(vol.credential), owner, pool)
        dev = api.as_(joined["credential"])
        beat = {"seq": 1, "state": "running"}
        assert dev.post("/api/v1/device/heartbeat", json=beat).status_code == 200
        api.join(api.as_(api.user().credential), owner, pool)  # joined, never heartbeated
        platform_sql(  # type: ignore[operator]
            "UPDATE devices SET credit = 12.5 WHERE id = :id", {"id": joined["device"]["id"]}
        )
        r = anon.get(f"/pools/{pool['id']}")
    assert '<strong id="pool-state">Running</strong>' in r.text
    assert '<strong id="pool-active">1</strong>' in r.text
    assert '<strong id="pool-credit">12.50</strong>' in r.text


def test_a_private_pool_page_is_its_owners_alone(api: Api, platform: LocalPlatform) -> None:
    owner = api.user()
    pool = api.pool(owner, public=False)
    with anonymous(platform) as anon:
        assert anon.get(f"/pools/{pool['id']}").status_code == 404
        assert anon.get(f"/pools/{pool['name']}").status_code == 404
    with browser(platform, api.user()) as other:
        r = other.get(f"/pools/{pool['id']}")
        assert r.status_code == 404 and pool["name"] not in r.text
    with browser(platform, owner) as page:
        assert page.get(f"/pools/{pool['name']}").status_code == 200


def test_a_logged_in_visitor_joins_from_the_page_linked_from_the_community_list(
    api: Api, platform: LocalPlatform
) -> None:
    pool = _public_pool(api, api.user(), running=True)
    with browser(platform, api.user()) as page:
        assert f'href="/pools/{pool["id"]}">{pool["name"]}</a>' in page.get("/pools").text
        shown = page.get(f"/pools/{pool['id']}").text
        assert "Sign up to join" not in shown and "pool start" not in shown
        assert f'action="/pools/{pool["id"]}/join"' in shown
        r = page.post(f"/pools/{pool['id']}/join", data={"csrf": csrf(shown)})
    assert r.status_code == 200 and "kalavai-like pool join " in r.text


@pytest.mark.parametrize("path", ["/pools/new"])
def test_the_create_form_needs_a_log_in(platform: LocalPlatform, path: str) -> None:
    with anonymous(platform) as anon:
        r = anon.get(path)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}"


def test_a_template_check_of_the_api_shows_at_the_parameters_in_words() -> None:
    """What a template's own parameter model refuses (inside the API's create) lands next to
    the parameters with the parameter's name and the model's words, never its pattern."""
    from pydantic import BaseModel, Field, ValidationError

    from kalavai_like.platform.web.pool_pages import _field_errors

    class Template(BaseModel):  # how a template could check its parameters
        workers: int = 1
        image: str = Field("", pattern=r"^[a-z./:-]+$")

    with pytest.raises(ValidationError) as bad_number:
        Template.model_validate({"workers": "many"})
    assert _field_errors(bad_number.value) == {
        "params": "workers: Input should be a valid integer, unable to parse string as an integer"
    }
    with pytest.raises(ValidationError) as bad_image:
        Template.model_validate({"image": "BAD IMAGE"})
    words = _field_errors(bad_image.value)["params"]
    assert words.startswith("Parameters are a JSON object") and "[a-z" not in words
