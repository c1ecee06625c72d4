"""The one step/rollback helper: undo newest first, report what stayed, and errors that keep
their type and their extra fields (a TokenError keeps its reason)."""

from __future__ import annotations

import pytest

from kalavai_like.errors import NotFound, SystemProblem, TokenError
from kalavai_like.rollback import Rollback, rephrase


def test_rephrased_token_error_keeps_its_type_and_reason() -> None:
    exc = TokenError("expired", "Token expired", "Ask the pool's owner for a new one.")
    new = rephrase(exc, "Join failed while checking the token", "Token expired")
    assert type(new) is TokenError and new.reason == "expired"
    assert (new.title, new.message) == ("Join failed while checking the token", "Token expired")
    assert new.to_dict()["reason"] == "expired" and new.exit_code == exc.exit_code
    assert str(new) == "Join failed while checking the token: Token expired"


def test_a_failed_step_rolls_back_newest_first_and_names_the_step() -> None:
    done: list[str] = []
    steps = Rollback("Bringing up kt-wk")
    with pytest.raises(TokenError) as info:
        with steps.step("creating the namespace"):
            steps.undo("namespace", lambda: done.append("namespace"))
        with steps.step("starting WireGuard"):
            steps.undo("WireGuard", lambda: done.append("WireGuard"))
            raise TokenError("revoked", "Token revoked", "It was revoked.")
    assert done == ["WireGuard", "namespace"]
    err = info.value
    assert err.reason == "revoked"  # not the title in the reason's place
    assert err.title == "Bringing up kt-wk failed while starting WireGuard"
    assert err.message == "Token revoked: It was revoked."


def test_what_could_not_be_undone_is_reported_and_the_rest_still_undone() -> None:
    done: list[str] = []
    steps = Rollback("Pool start")

    def stuck() -> None:
        raise OSError("device busy")

    steps.undo("hub device", lambda: done.append("hub device"))
    steps.undo("hub network", stuck)
    err = steps.failed(NotFound("Pool gone", ""), "Pool start failed while registering")
    assert done == ["hub device"]
    assert err.message == "Pool gone Could not remove: hub network (device busy)."
    assert steps.rollback() == []  # nothing is undone twice


def test_a_library_error_in_a_step_becomes_a_system_problem() -> None:
    steps = Rollback("Repairing kt-wk")
    with pytest.raises(SystemProblem) as info:
        with steps.step("restarting WireGuard"):
            raise ValueError("bad key")
    assert info.value.title == "Repairing kt-wk failed while restarting WireGuard"
    assert info.value.message == "ValueError: bad key"
