"""The user's platform account on one instance: sign-up, log-in, log-out, the logged-in client.

Frontends (CLI, tray) call these; they combine the instance's paths and settings, the keystore
and the platform client. The API token goes to the keystore only; the state records which
account is active. KALAVAI_LIKE_API_TOKEN, when set, overrides the keystore.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

from kalavai_like.client.platform import PlatformClient
from kalavai_like.errors import AuthError, InvalidInput, KalavaiError, PlatformUnavailable
from kalavai_like.home import keystore as keystores
from kalavai_like.home.instance import ActiveAccount, Home, save_account, save_last_platform

MIN_PASSWORD = 8


def platform_client(
    home: Home, platform: str | None = None, credential: str | None = None
) -> PlatformClient:
    """A client for `platform` (default: the active one) with this instance's timeouts."""
    p = home.settings.platform
    return PlatformClient(
        platform or home.platform,
        credential,
        connect_timeout=p.connect_timeout,
        read_timeout=p.read_timeout,
        retries=p.retries,
    )


def logged_in(home: Home) -> PlatformClient:
    """A client that presents the active account's API token.

    Raises:
        AuthError: not logged in.
        SystemProblem: no keyring on this machine.
    """
    token = home.token()
    if not token:
        raise AuthError("Not logged in", "Log in first: kalavai-like login")
    return platform_client(home, credential=token)


def token_in_env() -> bool:
    """True when KALAVAI_LIKE_API_TOKEN is set: it overrides the keystore."""
    return bool(keystores.token_from_env())


def keystore_notice(home: Home) -> str:
    """What to say once, at log-in, when the token went to a file for want of a keyring."""
    store = home.keystore
    if not getattr(store, "instead_of_keyring", False):
        return ""
    path = getattr(store, "path", "")
    return (f"This machine has no OS keyring: your API token is kept in {path}, which only "
            "you can read (0600).")  # fmt: skip


def credential_source(home: Home) -> str:
    """Where the API token in use comes from: the environment variable, or the keystore."""
    return keystores.TOKEN_ENV if token_in_env() else home.keystore.name


def _check_email(email: str) -> str:
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(email) > 254
        or any(c.isspace() for c in email)
    ):
        raise InvalidInput("Invalid email address", f"{email!r} does not look like an email.")
    return email


def signup(
    home: Home, platform: str, email: str, password: str, display_name: str = ""
) -> ActiveAccount:
    """Create an account on `platform` and log into it; `display_name` is what others see
    (none: the platform makes one from the account's id).

    Raises:
        InvalidInput: bad email or a password shorter than 8 characters.
        Conflict: the email is taken. PlatformUnavailable, SystemProblem: as for login.
    """
    email = _check_email(email)
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            "Password too short", f"Use at least {MIN_PASSWORD} characters for your password."
        )
    home.keystore  # noqa: B018 - fail before creating anything when there is nowhere to keep it
    with platform_client(home, platform) as client:
        client.signup(email, password, display_name)
    account, _ = login(home, platform, email, password)
    return account


def login(
    home: Home, platform: str, email: str, password: str, *, store: bool = True
) -> tuple[ActiveAccount, str]:
    """Log into `platform`; keep the API token in the keystore (unless `store` is False).

    A token for the same account that was stored before is revoked on the platform.

    Raises:
        AuthError: wrong email or password (or too many attempts).
        PlatformUnavailable: the platform cannot be reached or failed.
        SystemProblem: no keyring (checked before anything is sent).
    """
    email = _check_email(email)
    if not password:
        raise InvalidInput("Empty password", "Type your password (or pipe it to --password-stdin).")
    store_ = home.keystore if store else None
    with platform_client(home, platform) as client:
        answer = client.login(email, password)
        token, user = str(answer["token"]), answer.get("user") or {}
        account = ActiveAccount(
            client.base_url, str(user.get("email") or email), str(user.get("id") or "")
        )
        if store_ is None:
            return account, token
        old = store_.get(account.key)
        try:
            store_.set(account.key, token)
            save_account(home.paths.client_state_file, account)
        except BaseException:
            _revoke_quietly(home, account.platform, token)  # roll back the session we opened
            raise
    if old and old != token:
        _revoke_quietly(home, account.platform, old)
    return account, token


def _revoke_quietly(home: Home, platform: str, token: str) -> None:
    with contextlib.suppress(KalavaiError), platform_client(home, platform, token) as client:
        client.logout()


@dataclass(frozen=True)
class LogoutResult:
    """What `logout` did: `outcome` and, if revoking on the platform failed, why."""

    outcome: Literal["logged_out", "already", "env"]
    account: ActiveAccount | None = None
    revoke_error: KalavaiError | None = None


def logout(home: Home) -> LogoutResult:
    """Revoke the API token on the platform and delete it locally. Idempotent.

    The local copy is deleted even when the platform cannot be reached (`revoke_error` says so);
    a token from KALAVAI_LIKE_API_TOKEN is revoked but must be unset by the user.
    """
    account = home.account
    env = keystores.token_from_env()
    token = env or (home.keystore.get(account.key) if account else None)
    if not token:
        if account:
            save_account(home.paths.client_state_file, None)
        return LogoutResult("already", account)
    error: KalavaiError | None = None
    try:
        with platform_client(home, credential=token) as client:
            client.logout()
    except AuthError:
        pass  # already revoked or expired on the platform: the goal is reached
    except (PlatformUnavailable, InvalidInput) as exc:
        error = exc
    if account and not env:
        home.keystore.delete(account.key)
    if account:
        save_account(home.paths.client_state_file, None)
    return LogoutResult("env" if env else "logged_out", account, error)


def remember_platform(home: Home, platform: str) -> str:
    """Keep `platform` as the one the next log-in or sign-up offers (also after a restart);
    returns it normalized.

    Raises:
        InvalidInput: not an http(s) URL.
    """
    from kalavai_like.tokens import normalize_platform_url

    try:
        url = normalize_platform_url(platform.strip())
    except ValueError:
        raise InvalidInput(
            "Invalid platform address", "Type the platform's address, e.g. https://example.org."
        ) from None
    save_last_platform(home.paths.client_state_file, url)
    return url
