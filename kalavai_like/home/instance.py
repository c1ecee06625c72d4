"""One instance on disk: its paths, settings, keystore and the account it is logged in as.

`Home` is the handle frontends and tools open first; the API token lives in the keystore only,
the client state file records which account is active. KALAVAI_LIKE_API_TOKEN, when set,
overrides the keystore.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from kalavai_like.home import keystore as keystores
from kalavai_like.home import paths as paths_mod
from kalavai_like.home import settings as settings_mod
from kalavai_like.home.files import read_json, write_json
from kalavai_like.home.keystore import Keystore
from kalavai_like.home.paths import Paths
from kalavai_like.home.settings import Settings


@dataclass
class Home:
    """One instance: its paths, settings and (lazily) keystore."""

    paths: Paths
    settings: Settings
    _keystore: Keystore | None = field(default=None, repr=False)

    @classmethod
    def open(cls, home: str | None = None, keystore: Keystore | None = None) -> Home:
        """The instance at `home` (or KALAVAI_LIKE_HOME, or the OS's places).

        Raises:
            InvalidInput: bad home path or a bad value in settings.toml.
        """
        paths = paths_mod.resolve(home)
        return cls(paths, settings_mod.load(paths.settings_file), keystore)

    @property
    def keystore(self) -> Keystore:
        """The configured keystore. Raises SystemProblem when the machine has no keyring."""
        if self._keystore is None:
            self._keystore = keystores.open_keystore(
                self.settings.keystore, self.paths.token_file, self.paths.settings_file
            )
        return self._keystore

    @property
    def account(self) -> ActiveAccount | None:
        return load_account(self.paths.client_state_file)

    @property
    def platform(self) -> str:
        """The platform of the active account, else the last one, else the settings' one."""
        account = self.account
        if account:
            return account.platform
        return load_last_platform(self.paths.client_state_file) or self.settings.platform.url

    def token(self) -> str | None:
        """The API token: from KALAVAI_LIKE_API_TOKEN, else the keystore entry of the account."""
        env = keystores.token_from_env()
        if env:
            return env
        account = self.account
        return self.keystore.get(account.key) if account else None


@dataclass(frozen=True)
class ActiveAccount:
    """Who this instance is logged in as. The API token itself lives in the keystore."""

    platform: str
    email: str
    user_id: str = ""

    @property
    def key(self) -> str:
        """The keystore entry name: several platforms and accounts coexist."""
        return f"{self.platform} {self.email}"


def load_account(path: Path) -> ActiveAccount | None:
    """The active account recorded in `path`, or None when logged out."""
    data = read_json(path, default={})
    account = data.get("account") if isinstance(data, dict) else None
    if not isinstance(account, dict):
        return None
    platform, email = account.get("platform"), account.get("email")
    if not isinstance(platform, str) or not isinstance(email, str) or not platform or not email:
        return None
    return ActiveAccount(platform, email, str(account.get("user_id") or ""))


def save_account(path: Path, account: ActiveAccount | None) -> None:
    """Record the active account (None: logged out), keeping other keys in the file."""
    data = read_json(path, default={})
    if not isinstance(data, dict):
        data = {}
    if account is None:
        data.pop("account", None)
    else:
        data["account"] = asdict(account)
        data["last_platform"] = account.platform  # kept after log-out, for the next log-in
    write_json(path, data, secret=True)  # the email is the user's own: 0600 in a 0700 directory


def save_last_platform(path: Path, platform: str) -> None:
    """Remember the platform a log-in or sign-up was tried on (the next one starts there)."""
    data = read_json(path, default={})
    if not isinstance(data, dict):
        data = {}
    data["last_platform"] = platform
    write_json(path, data, secret=True)


def load_last_platform(path: Path) -> str | None:
    """The platform this instance was last logged into (survives log-out)."""
    data = read_json(path, default={})
    value = data.get("last_platform") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None
