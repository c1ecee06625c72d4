"""The instance a frontend works on, from kalavai_like.home: `Home` (paths, settings, keystore,
the active account) opened from --home / KALAVAI_LIKE_HOME or the OS's places, the bare
`Paths` of one, and the atomic text write the tray's autostart entry uses."""

from __future__ import annotations

from kalavai_like.home.files import write_text
from kalavai_like.home.instance import ActiveAccount, Home
from kalavai_like.home.paths import Paths, resolve

__all__ = ["ActiveAccount", "Home", "Paths", "paths", "write_text"]


def paths(home: str | None = None) -> Paths:
    """The directories of the instance `home` (else KALAVAI_LIKE_HOME, else the OS's), without
    reading its settings.

    Raises:
        InvalidInput: the home override is empty or names a file.
    """
    return resolve(home)
