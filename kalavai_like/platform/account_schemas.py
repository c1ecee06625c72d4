"""Request bodies of the account endpoints (profile, password, deletion, reset links, account
keys) and the one rule for display names: what others see of a user instead of the email."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

MAX_DISPLAY_NAME = 40
# Control, format (bidi overrides, zero-width), surrogate, private-use, unassigned, separators.
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _check_display_name(value: str) -> str:
    value = " ".join(value.split())  # no leading, trailing or repeated white space
    if not 1 <= len(value) <= MAX_DISPLAY_NAME:
        raise ValueError(f"give a display name of 1 to {MAX_DISPLAY_NAME} characters")
    if any(unicodedata.category(c) in _UNPRINTABLE for c in value):
        raise ValueError("a display name may hold only printable characters")
    if "@" in value:
        raise ValueError("a display name may not contain '@' (others see it: keep emails out)")
    return value


DisplayName = Annotated[str, StringConstraints(max_length=200), AfterValidator(_check_display_name)]
AnyPassword = Annotated[
    str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00]*$")
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024, pattern=r"^[^\x00]*$")]
Label = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]


def derived_display_name(user_id: str) -> str:
    """The display name of an account that chose none: from its id, never from its email."""
    return f"user-{user_id[:8]}"


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ProfileIn(_In):
    display_name: DisplayName


class PasswordChange(_In):
    current_password: AnyPassword
    new_password: Password


class AccountDelete(_In):
    password: AnyPassword


class ResetRequest(_In):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]


class ResetConfirm(_In):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    new_password: Password


class AccountKeyIn(_In):
    name: Label
