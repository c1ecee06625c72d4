"""What frontends need to describe and check the volunteer's preferences: the keys and their
meaning, this machine's hardware, a value checked as it is typed, and the preferences as last
saved. Only the agent writes them (`NodeClient.set_pref`, `update_prefs`, `reset_prefs`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kalavai_like.container.spec import Limits
from kalavai_like.errors import KalavaiError
from kalavai_like.volunteer.prefs import KEYS, Hardware, Prefs

if TYPE_CHECKING:
    from kalavai_like.home.instance import Home

__all__ = ["KEYS", "Hardware", "Limits", "Prefs", "check", "machine", "saved", "shown"]


def machine() -> Hardware:
    """This machine's cores, memory and GPUs."""
    from kalavai_like.volunteer import hostinfo

    return hostinfo.hardware()


def saved(home: Home) -> Prefs:
    """The preferences in `home`'s settings.toml as the agent last saved them, read afresh
    (the defaults when they are invalid)."""
    from kalavai_like.home import settings

    try:
        return Prefs.from_toml(settings.load(home.paths.settings_file).prefs)
    except KalavaiError:
        return Prefs()


def check(key: str, value: str, hardware: Hardware) -> str:
    """What is wrong with `value` for `key` on `hardware`, in words ("" when it is fine)."""
    try:
        Prefs().set(key, value, hardware)
    except KalavaiError as exc:
        return exc.message or exc.title
    return ""


def shown(flat: dict[str, str], key: str | None) -> str:
    """The value of `key` in `flat` (as `NodeClient.prefs()` gives them), as people write it;
    cpu, memory and gpu name both profiles ("1.5 in use, 100% idle" when they differ)."""
    if not key:
        return ""
    try:
        return Prefs.from_toml(flat).get(key)
    except KalavaiError:
        return flat.get(key, "")
