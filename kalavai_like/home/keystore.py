"""Where the user's API token is kept: the OS keyring, or (opt-in) a 0600 file.

Entries live under the service "kalavai-like" with the username "<platform URL> <email>", so
several platforms, accounts and homes coexist in one keyring. The home's state records which
account is active, never the token.

Where the machine has no keyring, `open_keystore` raises a SystemProblem that says so and
offers the explicit alternatives (the environment variable KALAVAI_LIKE_API_TOKEN, or
`keystore = "file"` in the settings); it never falls back to plaintext silently. This module is
the one place keyring errors are translated.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from kalavai_like.errors import SystemProblem
from kalavai_like.home.files import read_json, write_json

SERVICE = "kalavai-like"
TOKEN_ENV = "KALAVAI_LIKE_API_TOKEN"  # noqa: S105 - a variable name


class Keystore(Protocol):
    """Secrets by entry name. `get` returns None when absent; `delete` says if it was there."""

    name: str

    def get(self, entry: str) -> str | None: ...

    def set(self, entry: str, secret: str) -> None: ...

    def delete(self, entry: str) -> bool: ...


class MemoryKeystore:
    """A keystore in a dict, for unit tests (kept honest by tests/home/test_keystore.py)."""

    name = "memory"

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}

    def get(self, entry: str) -> str | None:
        return self.entries.get(entry)

    def set(self, entry: str, secret: str) -> None:
        _check(entry, secret)
        self.entries[entry] = secret

    def delete(self, entry: str) -> bool:
        return self.entries.pop(entry, None) is not None


class FileKeystore:
    """Secrets in a JSON file that only the user can read (0600, written atomically)."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _load(self) -> dict[str, str]:
        data = read_json(self.path, default={})
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def get(self, entry: str) -> str | None:
        return self._load().get(entry)

    def set(self, entry: str, secret: str) -> None:
        _check(entry, secret)
        data = self._load()
        data[entry] = secret
        write_json(self.path, data, secret=True)

    def delete(self, entry: str) -> bool:
        data = self._load()
        if data.pop(entry, None) is None:
            return False
        if data:
            write_json(self.path, data, secret=True)
        else:
            self.path.unlink(missing_ok=True)
        return True


class KeyringKeystore:
    """The OS keyring through `keyring` (Secret Service, KWallet, Keychain, Credential Locker)."""

    def __init__(self, backend: object) -> None:
        self.backend = backend
        self.name = f"keyring ({type(backend).__module__.removeprefix('keyring.backends.')})"

    def get(self, entry: str) -> str | None:
        with _keyring_errors():
            return self.backend.get_password(SERVICE, entry)  # type: ignore[attr-defined,no-any-return]

    def set(self, entry: str, secret: str) -> None:
        _check(entry, secret)
        with _keyring_errors():
            self.backend.set_password(SERVICE, entry, secret)  # type: ignore[attr-defined]

    def delete(self, entry: str) -> bool:
        import keyring.errors

        with _keyring_errors():
            try:
                self.backend.delete_password(SERVICE, entry)  # type: ignore[attr-defined]
            except keyring.errors.PasswordDeleteError:
                return False
        return True


def _check(entry: str, secret: str) -> None:
    if not entry or not secret:
        raise ValueError("keystore entries and secrets must not be empty")


def no_keyring_problem(settings_file: Path | None = None, detail: str = "") -> SystemProblem:
    """The error for a machine without a usable keyring, with the explicit alternatives."""
    where = f" in {settings_file}" if settings_file else ""
    return SystemProblem(
        "No keyring on this machine",
        (f"{detail}. " if detail else "")
        + "kalavai-like keeps your API token in the OS keyring (Secret Service, KWallet, "
        "macOS Keychain or Windows Credential Locker) and found none it can use. Either:\n"
        f"  - set {TOKEN_ENV} in the environment (get a token with "
        "`kalavai-like login --print-token`), or\n"
        f'  - opt in to a file only you can read (0600): put keystore = "file"{where}.',
    )


@contextmanager
def _keyring_errors(settings_file: Path | None = None) -> Iterator[None]:
    import keyring.errors

    try:
        yield
    except keyring.errors.NoKeyringError as exc:
        raise no_keyring_problem(settings_file, str(exc).rstrip(".")) from exc
    except keyring.errors.KeyringLocked as exc:
        raise SystemProblem(
            "Keyring is locked", "Unlock your keyring (log into the desktop) and try again."
        ) from exc
    except (keyring.errors.KeyringError, OSError) as exc:
        # Secret Service raises dbus errors wrapped as KeyringError/InitError; say what it said.
        raise SystemProblem(
            "Keyring error", f"The OS keyring failed: {exc or type(exc).__name__}."
        ) from exc
    except Exception as exc:  # secretstorage/jeepney raise their own types past keyring
        if type(exc).__module__.split(".")[0] in ("secretstorage", "jeepney", "dbus"):
            raise SystemProblem(
                "Keyring error", f"The OS keyring failed: {exc or type(exc).__name__}."
            ) from exc
        raise


def open_keyring(settings_file: Path | None = None) -> KeyringKeystore:
    """The OS keyring, if this machine has a usable one.

    Raises:
        SystemProblem: no keyring backend (headless box): names the alternatives.
    """
    import keyring
    import keyring.backends.chainer
    import keyring.backends.fail

    with _keyring_errors(settings_file):
        backend = keyring.get_keyring()
    usable: object | None = backend
    if isinstance(backend, keyring.backends.chainer.ChainerBackend):
        usable = backend if backend.backends else None
    if usable is None or isinstance(usable, keyring.backends.fail.Keyring):
        raise no_keyring_problem(settings_file)
    return KeyringKeystore(usable)


def open_keystore(kind: str, token_file: Path, settings_file: Path | None = None) -> Keystore:
    """The keystore chosen in the settings: "keyring" (default) or "file" (opt-in).

    Raises:
        SystemProblem: "keyring" on a machine without one.
    """
    if kind == "file":
        return FileKeystore(token_file)
    return open_keyring(settings_file)


def token_from_env() -> str | None:
    """The API token from KALAVAI_LIKE_API_TOKEN, if set (it overrides the keystore)."""
    value = os.environ.get(TOKEN_ENV, "").strip()
    return value or None
