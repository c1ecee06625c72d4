"""The logged-in user's own account: display name, password, deletion, and asking for a
password-reset link (frontends call these; the platform checks every rule)."""

from __future__ import annotations

from typing import Any

from kalavai_like.client.account import logged_in, platform_client
from kalavai_like.home import keystore as keystores
from kalavai_like.home.instance import Home, save_account


def set_display_name(home: Home, name: str) -> dict[str, Any]:
    """Change the display name; the account as the platform now has it."""
    with logged_in(home) as client:
        me: dict[str, Any] = client.request("PATCH", "/me", json={"display_name": name})
    return me


def change_password(home: Home, current: str, new: str) -> None:
    """Change the password; the platform logs every other session out (this one stays)."""
    body = {"current_password": current, "new_password": new}
    with logged_in(home) as client:
        client.request("POST", "/me/password", json=body)


def delete_account(home: Home, password: str) -> None:
    """Delete the account on the platform, then forget its token and state here."""
    with logged_in(home) as client:
        client.request("POST", "/me/delete", json={"password": password})
    account = home.account
    if account is not None:
        if not keystores.token_from_env():
            home.keystore.delete(account.key)
        save_account(home.paths.client_state_file, None)


def ask_password_reset(home: Home, platform: str, email: str) -> None:
    """Ask `platform` to email a reset link to `email` (it answers the same for any email).

    Raises:
        PlatformUnavailable: the platform sends no email (its message says whom to ask).
    """
    with platform_client(home, platform) as client:
        client.request("POST", "/password-resets", json={"email": email}, auth=False)
