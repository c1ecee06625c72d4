"""What a pool template's parameters may be: one check, used by the platform when a pool is
created and by the agent when it renders a worker (kalavai_like.container.templates), so a
pool that no worker could run is refused before anyone spends a join token on it.

Standard library and kalavai_like.errors only: the platform may not import the container
package, and the container package may not import the platform.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from kalavai_like.errors import InvalidInput

_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$")
_URL = re.compile(r"^https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?(/[A-Za-z0-9._~/%-]*)?$")
_WEAK_KEY = re.compile(r"^[A-Za-z0-9_]{1,256}$")
_AM_USER = re.compile(r"^[A-Za-z0-9@._+-]{1,256}$")
COMMAND_EXAMPLE = """--param 'command:=["python", "work.py"]'"""


def check_size(params: dict[str, Any]) -> dict[str, Any]:
    """`params` unchanged, if it is at most 8 KiB of JSON without NUL characters (a pydantic
    validator: raises ValueError)."""
    text = json.dumps(params)
    if len(text) > 8192:
        raise ValueError("params must be at most 8 KiB of JSON")
    if "\\u0000" in text:
        raise ValueError("params must not contain NUL characters")
    return params


def check(template: str, params: Mapping[str, Any]) -> None:
    """Refuse parameters that `template`'s worker cannot run with, in words.

    Raises:
        InvalidInput: a parameter is missing or malformed (the title names it).
    """
    image = params.get("image")
    if image is not None and (not isinstance(image, str) or not _IMAGE.match(image)):
        raise InvalidInput(
            "Bad image",
            "Name the worker image as a registry reference such as "
            "docker.io/library/python:3.12 (letters, digits and . _ / : @ + -, no spaces).",
        )
    _CHECKS.get(template, _nothing)(params)


def _nothing(params: Mapping[str, Any]) -> None:
    """dask: every parameter is optional."""


def _generic(params: Mapping[str, Any]) -> None:
    if not params.get("image"):
        raise InvalidInput(
            "No image", "A generic pool names its image: --param image=docker.io/library/IMAGE:TAG."
        )
    command = params.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        raise InvalidInput(
            "No command",
            f"A generic pool names its command as a list of strings: {COMMAND_EXAMPLE}.",
        )
    env = params.get("env")
    if env is not None and not isinstance(env, dict):
        raise InvalidInput(
            "Bad environment",
            """A generic pool's env is a mapping of names to values: --param 'env:={"A": "1"}'.""",
        )


def _boinc(params: Mapping[str, Any]) -> None:
    url = params.get("project_url")
    if url:
        if not _URL.match(str(url)):
            raise InvalidInput(
                "Bad BOINC project URL",
                "Give the project's web address, such as https://boinc.bakerlab.org/rosetta/.",
            )
        if not _WEAK_KEY.match(str(params.get("weak_key") or "")):
            raise InvalidInput(
                "Bad BOINC weak account key",
                "Give the weak account key from the project's account page (letters, digits "
                "and _).",
            )
    password = str(params.get("gui_rpc_password") or "")
    if "\n" in password or len(password) > 256:
        raise InvalidInput("Bad GUI RPC password", "Use one line of at most 256 characters.")
    if params.get("account_manager_url"):
        _account_manager(params)


def _account_manager(params: Mapping[str, Any]) -> None:
    if not _URL.match(str(params["account_manager_url"])):
        raise InvalidInput(
            "Bad account manager URL",
            "Give the account manager's web address, such as https://scienceunited.org/.",
        )
    if not _AM_USER.match(str(params.get("account_manager_user") or "")):
        raise InvalidInput(
            "Bad account manager user name",
            "Give your user name (or email) at the account manager: letters, digits and @ . _ + -.",
        )
    password = str(params.get("account_manager_password") or "")
    if not password or "\n" in password or len(password) > 256:
        raise InvalidInput("Bad account manager password", "Give one line of 1 to 256 characters.")


_CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "dask": _nothing,
    "boinc": _boinc,
    "generic": _generic,
}


def account_manager_login(params: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """A BOINC pool's account manager: its base URL (ending in /), the account's name there and
    BOINC's password_hash (md5 of password + lower-cased name: what the client sends, so the
    password itself goes nowhere); None without one."""
    url = str(params.get("account_manager_url") or "")
    if not url:
        return None
    user = str(params.get("account_manager_user") or "")
    password = str(params.get("account_manager_password") or "")
    digest = hashlib.md5((password + user.lower()).encode()).hexdigest()  # noqa: S324 (BOINC's)
    return (url if url.endswith("/") else f"{url}/"), user, digest
