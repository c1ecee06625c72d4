"""kalavai_like.errors: the one mapping of errors to the wire, HTTP statuses and exit codes."""

from __future__ import annotations

import pytest

from kalavai_like.errors import (
    PLATFORM_KINDS,
    AgentUnavailable,
    AuthError,
    Conflict,
    InvalidInput,
    KalavaiError,
    NotFound,
    PlatformUnavailable,
    SystemProblem,
    TokenError,
    error_for_status,
    error_from_dict,
)

ALL = [InvalidInput, AuthError, PlatformUnavailable, NotFound, Conflict, SystemProblem]


@pytest.mark.parametrize("cls", [KalavaiError, *ALL, AgentUnavailable])
def test_round_trip_keeps_kind_title_and_message(cls: type[KalavaiError]) -> None:
    back = error_from_dict(cls("A title", "what to do").to_dict())
    assert type(back) is cls and (back.title, back.message) == ("A title", "what to do")


def test_token_error_keeps_its_reason() -> None:
    wire = TokenError("used_up", "Token used up", "Ask for a new one.").to_dict()
    assert wire == {
        "kind": "TokenError",
        "title": "Token used up",
        "message": "Ask for a new one.",
        "reason": "used_up",
    }
    back = error_from_dict(wire)
    assert isinstance(back, TokenError) and back.reason == "used_up"


def test_unknown_kind_and_missing_fields_fall_back() -> None:
    back = error_from_dict({"kind": "Nonsense"}, title="Agent error")
    assert type(back) is KalavaiError and (back.title, back.message) == ("Agent error", "")
    assert isinstance(error_from_dict({"kind": "TokenError", "title": "t"}), TokenError)


def test_kinds_outside_the_allowed_ones_become_the_default() -> None:
    wire = SystemProblem("No WireGuard", "").to_dict()
    back = error_from_dict(wire, kinds=PLATFORM_KINDS, default=PlatformUnavailable)
    assert type(back) is PlatformUnavailable
    assert type(error_from_dict(wire)) is SystemProblem


@pytest.mark.parametrize(
    ("error", "platform", "local", "exit_code"),
    [
        (KalavaiError("t"), 500, 400, 1),
        (InvalidInput("t"), 400, 400, 2),
        (TokenError("unknown", "t"), 404, 400, 2),
        (TokenError("expired", "t"), 410, 400, 2),
        (TokenError("revoked", "t"), 410, 400, 2),
        (TokenError("damaged", "t"), 400, 400, 2),
        (AuthError("t"), 401, 403, 3),
        (PlatformUnavailable("t"), 503, 400, 4),
        (NotFound("t"), 404, 404, 5),
        (Conflict("t"), 409, 409, 6),
        (SystemProblem("t"), 500, 400, 7),
        (AgentUnavailable("t"), 500, 400, 8),
    ],
)
def test_statuses_and_exit_codes(
    error: KalavaiError, platform: int, local: int, exit_code: int
) -> None:
    assert (error.http_status, error.local_status, error.exit_code) == (
        platform,
        local,
        exit_code,
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidInput),
        (401, AuthError),
        (403, AuthError),
        (404, NotFound),
        (409, Conflict),
        (410, InvalidInput),
        (422, InvalidInput),
        (500, PlatformUnavailable),
        (502, PlatformUnavailable),
    ],
)
def test_error_for_status(status: int, cls: type[KalavaiError]) -> None:
    assert error_for_status(status) is cls
