"""Where the user's API token is kept: the OS keyring, else a 0600 file.

Entries live under the service "kalavai-like" with the username "<platform URL> <email>", so
several platforms, accounts and homes coexist in one keyring. The home's state records which
account is active, never the token.

By default ("auto", what well-kept CLIs such as GitHub's do) the keyring is used when the machine
has one, and otherwise a file only the user can read (0600), which the frontends say once, at
log-in: a volunteer never edits a file to log in. `keystore = "keyring"` insists on the keyring
(a machine without one gets a SystemProblem naming the alternatives), `"file"` always uses the
file. A keyring that exists but is locked or failing is an error, never a reason to use the file.
This module is the one place keyring errors are translated.
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
NO_KEYRING = "No keyring on this machine"


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
    """Secrets in a JSON file that only the user can read (0600, written atomically);
    `instead_of_keyring` when chosen because the machine has no keyring."""

    def __init__(self, path: Path, *, instead_of_keyring: bool = False) -> None:
        self.path = Path(path)
        self.instead_of_keyring = instead_of_keyring
        self.name = f"file {self.path} (no OS keyring here)" if instead_of_keyring else "file"

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
    """The error for a machine without a usable keyring where the settings insist on one."""
    where = f" from {settings_file}" if settings_file else ""
    return SystemProblem(
        NO_KEYRING,
        (f"{detail}. " if detail else "")
        + 'The settings say keystore = "keyring", and kalavai-like found no OS keyring it can '
        "use (Secret Service, KWallet, macOS Keychain or Windows Credential Locker). Either:\n"
        f"  - remove that line{where}: then the token is kept in a file only you can read "
        "(0600), or\n"
        f"  - set {TOKEN_ENV} in the environment (get a token with "
        "`kalavai-like login --print-token`).",
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
    """The keystore the settings choose: "auto" (the keyring, else the file), "keyring", "file".

    Raises:
        SystemProblem: "keyring" on a machine without one; a locked or failing keyring.
    """
    if kind == "file":
        return FileKeystore(token_file)
    if kind == "keyring":
        return open_keyring(settings_file)
    try:
        return open_keyring(settings_file)
    except SystemProblem as exc:
        if exc.title != NO_KEYRING:
            raise  # locked or failing: the token must not move to a file behind its back
        return FileKeystore(token_file, instead_of_keyring=True)


def token_from_env() -> str | None:
    """The API token from KALAVAI_LIKE_API_TOKEN, if set (it overrides the keystore)."""
    value = os.environ.get(TOKEN_ENV, "").strip()
    return value or None
