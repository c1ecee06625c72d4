"""Where a kalavai-like instance keeps its files: config, state, data, logs and run.

By default the OS's conventional places (platformdirs). One override, `--home DIR` or the
environment variable `KALAVAI_LIKE_HOME`, puts all five under one directory, so several
instances (the local pool simulator's volunteers, tests) run side by side on one machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kalavai_like.errors import InvalidInput

APP_NAME = "kalavai-like"
HOME_ENV = "KALAVAI_LIKE_HOME"


@dataclass(frozen=True)
class Paths:
    """The directories of one instance. Nothing is created until `ensure()`."""

    config: Path
    state: Path
    data: Path
    logs: Path
    run: Path
    home: Path | None = None

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.toml"

    @property
    def client_state_file(self) -> Path:
        """Which account is active on this instance (never the token itself)."""
        return self.state / "client.json"

    @property
    def token_file(self) -> Path:
        """API tokens, only when the user opted in with `keystore = "file"` (0600)."""
        return self.state / "api-tokens.json"

    def ensure(self) -> Paths:
        """Create the directories (state, logs and run private to the user)."""
        for path in (self.config, self.data):
            path.mkdir(parents=True, exist_ok=True)
        for path in (self.state, self.logs, self.run):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def under(home: str | os.PathLike[str]) -> Paths:
    """All directories under one home directory."""
    if not str(home).strip():
        raise InvalidInput("Empty home directory", "Give --home a directory path.")
    root = Path(home).expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise InvalidInput("Home is not a directory", f"{root} exists and is not a directory.")
    return Paths(
        config=root / "config",
        state=root / "state",
        data=root / "data",
        logs=root / "logs",
        run=root / "run",
        home=root,
    )


def resolve(
    home: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Paths:
    """The paths for this instance: `home` if given, else `KALAVAI_LIKE_HOME`, else the OS's.

    Raises:
        InvalidInput: the home override is empty or names a file.
    """
    environ = os.environ if env is None else env
    chosen = home if home is not None else environ.get(HOME_ENV) or None
    if chosen is not None:
        return under(chosen)
    import warnings

    import platformdirs

    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR (root on a headless box) platformdirs falls back to
        # /tmp/runtime-UID and warns; that fallback is fine for our sockets.
        warnings.simplefilter("ignore")
        run = Path(dirs.user_runtime_dir)
    return Paths(
        config=Path(dirs.user_config_dir),
        state=Path(dirs.user_state_dir),
        data=Path(dirs.user_data_dir),
        logs=Path(dirs.user_log_dir),
        run=run,
    )
