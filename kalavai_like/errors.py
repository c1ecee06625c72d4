"""The project's error types and their one mapping to the wire, HTTP statuses and exit codes.

Library errors are translated into these at the boundary modules only (the platform client,
the overlay, the container runtime). Each class knows its process exit code (the CLI, the
agent), its HTTP status on the platform API (`http_status`) and on the agent's LocalAPI
(`local_status`), and its wire kind: `to_dict` writes `{kind, title, message, reason?}` and
`error_from_dict` reads it back. The tray shows `title` and `message` in a notification.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

_BY_KIND: dict[str, type[KalavaiError]] = {}


class KalavaiError(Exception):
    """Base error: `title` is a short summary, `message` says what happened and what to do."""

    kind: ClassVar[str] = "KalavaiError"  # the wire name: the class name
    exit_code: ClassVar[int] = 1
    http_status: int = 500  # the platform's answer: its own failure
    local_status: ClassVar[int] = 400  # the LocalAPI's answer: a refused request

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.kind = cls.__name__
        _BY_KIND[cls.kind] = cls

    def __init__(self, title: str, message: str = "") -> None:
        super().__init__(f"{title}: {message}" if message else title)
        self.title = title
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The wire form, as in `{"error": {...}}` answers."""
        return {"kind": self.kind, "title": self.title, "message": self.message}


_BY_KIND[KalavaiError.kind] = KalavaiError


class InvalidInput(KalavaiError):
    """The user gave something malformed or out of range; fixing the input fixes it."""

    exit_code = 2
    http_status = 400


# A join token the platform knows but will not honour is gone (410); one it never issued, 404.
_TOKEN_STATUS = {"unknown": 404, "expired": 410, "used_up": 410, "revoked": 410}


class TokenError(InvalidInput):
    """A join token is damaged, expired, used up, revoked, unknown or for another platform.

    `reason` is a stable machine-readable word: damaged, version, expired, other_platform,
    used_up, revoked, unknown.
    """

    def __init__(self, reason: str, title: str, message: str = "") -> None:
        super().__init__(title, message)
        self.reason = reason
        self.http_status = _TOKEN_STATUS.get(reason, 400)

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "reason": self.reason}


class AuthError(KalavaiError):
    """Not logged in, wrong credentials, or not allowed; logging in (again) fixes it.

    The LocalAPI has no log-in (the peer's uid decides), so there it is 403, not 401.
    """

    exit_code = 3
    http_status = 401
    local_status = 403


class PlatformUnavailable(KalavaiError):
    """The platform could not be reached, timed out or failed; retrying later may fix it."""

    exit_code = 4
    http_status = 503


class NotFound(KalavaiError):
    """The named pool, token, device or key does not exist (or is not yours)."""

    exit_code = 5
    http_status = local_status = 404


class Conflict(KalavaiError):
    """The request clashes with the current state (name taken, already joined elsewhere)."""

    exit_code = 6
    http_status = local_status = 409


class SystemProblem(KalavaiError):
    """This machine lacks something the step needs (WireGuard, podman, a free disk, a keyring)."""

    exit_code = 7


class AgentUnavailable(KalavaiError):
    """The local agent is not running or its socket cannot be reached."""

    exit_code = 8


# What a platform may tell a client: never that this machine lacks something (SystemProblem)
# or that its agent is down; such kinds, and the bare base, are read by their HTTP status.
PLATFORM_KINDS: frozenset[type[KalavaiError]] = frozenset(
    {InvalidInput, TokenError, AuthError, NotFound, Conflict, PlatformUnavailable}
)


def error_for_status(status: int) -> type[KalavaiError]:
    """The error class an HTTP error status stands for when the answer names no kind."""
    if status >= 500:
        return PlatformUnavailable
    if status in (401, 403):
        return AuthError
    return {404: NotFound, 409: Conflict}.get(status, InvalidInput)


def error_from_dict(
    data: Mapping[str, Any],
    *,
    kinds: Collection[type[KalavaiError]] | None = None,
    default: type[KalavaiError] = KalavaiError,
    title: str = "Error",
) -> KalavaiError:
    """The error a wire dict (`to_dict`) describes.

    A `reason` (or the kind TokenError) makes a TokenError; a kind that is unknown, or not
    among `kinds` when given, becomes `default`; `title` stands in for a missing title.
    """
    heading = str(data.get("title", title))
    message = str(data.get("message") or "")
    kind = str(data.get("kind") or "")
    if kind == TokenError.kind or data.get("reason"):
        return TokenError(str(data.get("reason") or "unknown"), heading, message)
    cls = _BY_KIND.get(kind, default)
    if kinds is not None and cls not in kinds:
        cls = default
    return cls(heading, message)


@dataclass(frozen=True)
class Condition:
    """An ongoing problem shown in the status snapshot (no WireGuard, disk full, a rule holding
    the worker): a stable code, a title and a text a person can act on."""

    code: str
    title: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        return cls(str(data["code"]), str(data["title"]), str(data["text"]))
