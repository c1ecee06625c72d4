"""One check of a pool template's parameters: the platform refuses at pool create exactly what
the agent's container templates would refuse at join, with the same words."""

from __future__ import annotations

from typing import Any

import pytest

from kalavai_like import pool_params
from kalavai_like.container.spec import Limits
from kalavai_like.container.templates import render
from kalavai_like.errors import InvalidInput

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("generic", {}, "No image"),
    ("generic", {"image": "busybox", "command": "sleep 60"}, "No command"),
    ("generic", {"image": "busybox", "command": ["sh"], "env": ["A=1"]}, "Bad environment"),
    ("generic", {"image": "two words", "command": ["sh"]}, "Bad image"),
    ("boinc", {"project_url": "ftp://x", "weak_key": "k"}, "Bad BOINC project URL"),
    ("boinc", {"project_url": "https://x.org/", "weak_key": "a b"}, "Bad BOINC weak account key"),
    ("dask", {"image": 7}, "Bad image"),
]


@pytest.mark.parametrize(("template", "params", "title"), BAD)
def test_the_platform_and_the_agent_refuse_alike(template, params, title) -> None:
    with pytest.raises(InvalidInput) as at_create:
        pool_params.check(template, params)
    with pytest.raises(InvalidInput) as at_join:
        render(template, params, membership_id="m-1", limits=Limits(1.0, 2**30),
               head_address="10.0.0.1", netns_path=None)  # fmt: skip
    assert at_create.value.title == at_join.value.title == title
    assert at_create.value.message == at_join.value.message
    assert "match" not in at_create.value.message and "^" not in at_create.value.message


def test_what_workers_can_run_passes() -> None:
    pool_params.check("dask", {})
    pool_params.check("generic", {"image": "ghcr.io/acme/worker:1.2", "command": ["run"]})
    pool_params.check("boinc", {"project_url": "https://boinc.bakerlab.org/rosetta/",
                                "weak_key": "123_abc"})  # fmt: skip
