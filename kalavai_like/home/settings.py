"""Settings: the hand-editable `settings.toml` of one instance, typed and validated.

    keystore = "auto"             # the OS keyring, else a 0600 file; or "keyring" / "file"

    [platform]
    url = "http://127.0.0.1:8700"
    connect_timeout = 5.0
    read_timeout = 30.0
    retries = 2

    [network]
    backend = "auto"              # auto | kernel | userspace
    prefix = "kl"

    [runtime]
    engine = "podman"             # podman | docker
    extra_global_args = []
    extra_run_args = []
    containers_conf = ""

    [prefs]                       # owned by kalavai_like.volunteer.prefs (kept as written)

Keys this version does not know are kept as they are and written back, so a newer
kalavai-like's settings survive an older one. A bad value raises InvalidInput naming the key.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalavai_like.errors import InvalidInput
from kalavai_like.home.files import write_text

KEYSTORES = ("auto", "keyring", "file")
# Keys that mean something only at the top of the file, before any [table].
TOP_LEVEL = frozenset({"keystore"})
NETWORK_BACKENDS = ("auto", "kernel", "userspace")
ENGINES = ("podman", "docker")
DEFAULT_PLATFORM = "http://127.0.0.1:8700"
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,5}$")


def _bad(key: str, value: Any, why: str) -> InvalidInput:
    return InvalidInput(f"Invalid setting {key}", f"{key} = {value!r}: {why}.")


@dataclass(frozen=True)
class PlatformConnection:
    """How this instance reaches its platform (the `[platform]` table): the URL and how
    patiently. The platform server's own settings are kalavai_like.platform.settings."""

    url: str = DEFAULT_PLATFORM
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 2
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from kalavai_like.tokens import normalize_platform_url

        try:
            object.__setattr__(self, "url", normalize_platform_url(self.url))
        except (ValueError, AttributeError):
            raise _bad("platform.url", self.url, "use an http:// or https:// URL") from None
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 < value <= 600
            ):
                raise _bad(f"platform.{name}", value, "use seconds between 0 and 600")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int):
            raise _bad("platform.retries", self.retries, "use a whole number from 0 to 10")
        if not 0 <= self.retries <= 10:
            raise _bad("platform.retries", self.retries, "use a whole number from 0 to 10")


@dataclass(frozen=True)
class NetworkSettings:
    """Overlay backend and the name prefix of namespaces and interfaces."""

    backend: str = "auto"
    prefix: str = "kl"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in NETWORK_BACKENDS:
            raise _bad("network.backend", self.backend, f"use one of {', '.join(NETWORK_BACKENDS)}")
        if not isinstance(self.prefix, str) or not _PREFIX.match(self.prefix):
            raise _bad(
                "network.prefix", self.prefix, "use 1-6 lower-case letters and digits, letter first"
            )


@dataclass(frozen=True)
class RuntimeSettings:
    """The container engine and extra flags (see kalavai_like.container.config)."""

    engine: str = "podman"
    extra_global_args: list[str] = field(default_factory=list)
    extra_run_args: list[str] = field(default_factory=list)
    containers_conf: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise _bad("runtime.engine", self.engine, f"use one of {', '.join(ENGINES)}")
        for name in ("extra_global_args", "extra_run_args"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _bad(f"runtime.{name}", value, "use a list of strings")
        if not isinstance(self.containers_conf, str):
            raise _bad("runtime.containers_conf", self.containers_conf, "use a file path")


@dataclass(frozen=True)
class Settings:
    """All settings of one instance. `prefs` is the raw [prefs] table (volunteer.prefs)."""

    keystore: str = "auto"
    platform: PlatformConnection = field(default_factory=PlatformConnection)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    prefs: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.keystore not in KEYSTORES:
            raise _bad("keystore", self.keystore, f"use one of {', '.join(KEYSTORES)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build from a parsed TOML document, keeping unknown keys.

        Raises:
            InvalidInput: a value is of the wrong type or out of range (names the key).
        """
        data = dict(data)
        _refuse_misplaced(data)
        sections: dict[str, Any] = {}
        for name, kind in (
            ("platform", PlatformConnection),
            ("network", NetworkSettings),
            ("runtime", RuntimeSettings),
        ):
            table = data.pop(name, {})
            if not isinstance(table, dict):
                raise _bad(name, table, "this must be a [table]")
            sections[name] = _section(kind, name, table)
        prefs = data.pop("prefs", {})
        if not isinstance(prefs, dict):
            raise _bad("prefs", prefs, "this must be a [table]")
        kwargs: dict[str, Any] = {}
        if "keystore" in data:
            kwargs["keystore"] = data.pop("keystore")
        return cls(**kwargs, **sections, prefs=prefs, extra=data)

    def to_dict(self) -> dict[str, Any]:
        """The TOML document, with unknown keys where they were."""
        out: dict[str, Any] = {"keystore": self.keystore, **self.extra}
        for name in ("platform", "network", "runtime"):
            section = getattr(self, name)
            table = {
                f.name: getattr(section, f.name)
                for f in dataclasses.fields(section)
                if f.name != "extra"
            }
            out[name] = {**table, **section.extra}
        if self.prefs:
            out["prefs"] = self.prefs
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _section(kind: Any, name: str, table: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(kind)} - {"extra"}
    values = {k: v for k, v in table.items() if k in known}
    extra = {k: v for k, v in table.items() if k not in known}
    try:
        return kind(**values, extra=extra)
    except TypeError as exc:  # pragma: no cover - all keys are filtered above
        raise _bad(name, table, str(exc)) from None


def _refuse_misplaced(data: dict[str, Any]) -> None:
    """A top-level key inside a [table] (appended after one) would be ignored: say so."""
    for name, table in data.items():
        if isinstance(table, dict):
            for key in TOP_LEVEL & set(table):
                raise InvalidInput(
                    f"{key} is inside [{name}]",
                    f"`{key}` belongs at the top of settings.toml, before any [table]; "
                    f"where it is now it would mean {name}.{key}. Move it to the first lines.",
                )


def load(path: Path) -> Settings:
    """Settings from `path`; defaults when the file does not exist.

    Raises:
        InvalidInput: the file is not valid TOML or holds a bad value (names the key).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise InvalidInput("Cannot read the settings", f"{path}: {exc.strerror or exc}.") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput("Settings file is not valid TOML", f"{path}: {exc}.") from None
    try:
        return Settings.from_dict(data)
    except InvalidInput as exc:
        raise InvalidInput(exc.title, f"{exc.message} (in {path})") from None


def save(path: Path, settings: Settings) -> None:
    """Write `settings` to `path` atomically as TOML."""
    import tomli_w

    write_text(path, tomli_w.dumps(settings.to_dict()))
